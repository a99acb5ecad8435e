using System.Globalization;

namespace ConvGrad.Data;

/// <summary>
/// Per-channel input normalisation, <c>x = (p/255 − mean[c]) / std[c]</c> (torchvision's <c>ToTensor</c> then
/// <c>Normalize(mean, std)</c>): the last step of <see cref="DataLoader"/>, stored with the model so that prediction
/// brings images to the model's input exactly as training did.
/// </summary>
public sealed record Normalization
{
    /// <summary>The per-channel mean and standard deviation of pixels scaled to [0, 1].</summary>
    /// <param name="mean">One mean per channel.</param>
    /// <param name="std">One standard deviation per channel, each &gt; 0.</param>
    /// <exception cref="ArgumentException">Lengths differ, are 0, or a value is not finite or a deviation not positive.</exception>
    public Normalization(IReadOnlyList<double> mean, IReadOnlyList<double> std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Count == 0 || mean.Count != std.Count || mean.Any(m => !double.IsFinite(m)) || std.Any(s => !(s > 0) || !double.IsFinite(s)))
        {
            throw new ArgumentException($"need one finite mean and one positive std per channel; got mean [{Join(mean)}], std [{Join(std)}]", nameof(std));
        }
        Mean = mean.ToArray();
        Std = std.ToArray();
    }

    /// <summary>
    /// MNIST's: mean 0.1307, std 0.3081 (the official 60,000 training digits). Used for MNIST's own files (bundled or
    /// official) so that they train as they always have; other data gets <see cref="Compute"/>.
    /// </summary>
    public static Normalization Mnist { get; } = new([0.1307], [0.3081]);

    /// <summary>One mean per channel.</summary>
    public IReadOnlyList<double> Mean { get; }

    /// <summary>One standard deviation per channel.</summary>
    public IReadOnlyList<double> Std { get; }

    /// <summary>Channels.</summary>
    public int Channels => Mean.Count;

    /// <summary>
    /// The mean and (population) standard deviation of each channel over every pixel of <paramref name="dataset"/>,
    /// on the [0, 1] scale, accumulated exactly from 8-bit histograms. A channel with one value throughout gets std 1.
    /// </summary>
    /// <param name="dataset">The training set.</param>
    public static Normalization Compute(IImageDataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var shape = dataset.Shape;
        int plane = shape.Height * shape.Width;
        var histogram = new long[shape.Channels, 256];
        var pixels = new byte[shape.Length];
        for (int i = 0; i < dataset.Count; i++)
        {
            dataset.ReadPixels(i, pixels);
            for (int c = 0; c < shape.Channels; c++)
            {
                foreach (byte v in pixels.AsSpan(c * plane, plane))
                {
                    histogram[c, v]++;
                }
            }
        }
        var mean = new double[shape.Channels];
        var std = new double[shape.Channels];
        for (int c = 0; c < shape.Channels; c++)
        {
            double n = 0, sum = 0;
            for (int v = 0; v < 256; v++)
            {
                n += histogram[c, v];
                sum += histogram[c, v] * (v / 255.0);
            }
            double m = n > 0 ? sum / n : 0, sq = 0;
            for (int v = 0; v < 256; v++)
            {
                double d = v / 255.0 - m;
                sq += histogram[c, v] * d * d;
            }
            double s = n > 0 ? Math.Sqrt(sq / n) : 0;
            mean[c] = Math.Round(m, 6);
            std[c] = s > 1e-6 ? Math.Round(s, 6) : 1;
        }
        return new Normalization(mean, std);
    }

    /// <summary>
    /// The normalised value of every 8-bit value in every channel: <c>table[c·256 + p] = (float)((p/255 − mean[c]) / std[c])</c>,
    /// computed in double and rounded once.
    /// </summary>
    public float[] Table()
    {
        var table = new float[256 * Channels];
        for (int c = 0; c < Channels; c++)
        {
            for (int v = 0; v < 256; v++)
            {
                table[c * 256 + v] = (float)((v / 255.0 - Mean[c]) / Std[c]);
            }
        }
        return table;
    }

    /// <summary>A copy for <paramref name="channels"/> channels: itself, or a 1-channel normalisation repeated.</summary>
    /// <param name="channels">The channels wanted.</param>
    /// <exception cref="ArgumentException">Neither this channel count nor 1.</exception>
    public Normalization For(int channels) => channels == Channels ? this
        : Channels == 1 ? new Normalization(Enumerable.Repeat(Mean[0], channels).ToArray(), Enumerable.Repeat(Std[0], channels).ToArray())
        : throw new ArgumentException($"a normalisation of {Channels} channels does not fit {channels}", nameof(channels));

    /// <summary>Value equality of the means and deviations.</summary>
    /// <param name="other">The other normalisation.</param>
    public bool Equals(Normalization? other) => other is not null && Mean.SequenceEqual(other.Mean) && Std.SequenceEqual(other.Std);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Mean.Count, Mean[0], Std[0]);

    /// <summary><c>mean [..] std [..]</c>.</summary>
    public override string ToString() => $"mean [{Join(Mean)}] std [{Join(Std)}]";

    private static string Join(IEnumerable<double> v) => string.Join(", ", v.Select(x => x.ToString("G6", CultureInfo.InvariantCulture)));
}
