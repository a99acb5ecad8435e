using System.CommandLine;
using System.Globalization;
using System.Text;
using ConvGrad.Autograd;
using ConvGrad.Data;
using ConvGrad.Nn;
using ConvGrad.Onnx;
using SkiaSharp;

namespace ConvGrad.Cli;

/// <summary><c>convgrad predict</c>: classifies digits with saved weights and prints the class probabilities.</summary>
internal sealed class PredictCommand : CliCommand
{
    private readonly Option<string?> _model = CliOptions.OptionalText("model",
        "the safetensors file (default: out/resnet.safetensors at the repository root, as written by `convgrad train`, else out/lenet.safetensors), or an ONNX model (.onnx)", helpName: "FILE");
    private readonly Option<string?> _mean = CliOptions.OptionalText("mean",
        "the per-channel mean of the model's training pixels scaled to [0, 1] (comma-separated), for a model file that does not say (default: what the file says)", helpName: "X[,X...]");
    private readonly Option<string?> _std = CliOptions.OptionalText("std", "the per-channel standard deviation that goes with --mean", helpName: "X[,X...]");
    private readonly Option<string?> _image = CliOptions.OptionalText("image",
        "a PNG (any size; converted to gray and scaled to 28x28; a dark digit on a light background is inverted to MNIST's light-on-dark)", helpName: "PNG");
    private readonly Option<string?> _idx = CliOptions.OptionalText("idx",
        "an IDX images file [N, 28, 28] (plain or .gz), e.g. data/mnist-10k/images-idx3-ubyte.gz", helpName: "FILE");
    private readonly Option<int> _index = CliOptions.Int("index", "the first image of --idx to classify", 0, 0, int.MaxValue);
    private readonly Option<int> _count = CliOptions.Int("count", "how many consecutive images of --idx", 1, 1, 1_000_000);
    private readonly Option<int> _threads = CliOptions.Int("threads", "worker threads (0: one per processor)", 0, 0, 1024);

    /// <summary>Declares <c>predict</c> and its options.</summary>
    public PredictCommand() => Declaration = new Command("predict", """
        classify a digit (PNG or IDX) with weights saved by train (or by PyTorch)

        Give exactly one of --image PNG or --idx FILE. Loads the LeNet-style model or the ResNet (docs/model.md;
        recognised by its tensor names) from a safetensors file with PyTorch's names and layouts, or an ONNX model
        that takes [1, 28, 28] images (docs/onnx.md: its metadata gives the class names and normalisation, else
        --mean and --std), and prints, per image, one line 'image I: digit D  probabilities 0:p0 1:p1 ... 9:p9'
        ('class NAME' and the names for a model whose classes are not the digits 0-9).
        """)
    {
        Options = { _model, _image, _idx, _index, _count, _mean, _std, _threads },
    };

    public override Command Declaration { get; }

    public override int Run(ParseResult args, TextWriter stdout, TextWriter stderr)
    {
        string model = args.GetValue(_model) ?? DefaultModel(Path.Combine(RepoPaths.Root() ?? Directory.GetCurrentDirectory(), "out"));
        string? image = args.GetValue(_image);
        string? idx = args.GetValue(_idx);
        int index = args.GetValue(_index);
        int count = args.GetValue(_count);
        int threads = args.GetValue(_threads);
        if ((image is null) == (idx is null))
        {
            throw new UsageException("give exactly one of --image PNG or --idx FILE");
        }
        if (!File.Exists(model))
        {
            throw new UsageException($"no model file {model} (run `convgrad train` first or pass --model FILE)");
        }

        var loaded = ModelFiles.Load(model, new ConvOptions { Threads = threads }, Normalization(args));
        if (!loaded.InputShape.SequenceEqual([1, 28, 28]))
        {
            throw new UsageException($"{model} takes [{string.Join(", ", loaded.InputShape)}] inputs; predict reads 28x28 grayscale images [1, 28, 28]");
        }
        var net = loaded.Module;
        var meta = loaded.Metadata;
        if (!meta.HasNormalization)
        {
            throw new UsageException($"{model} does not say how its inputs were normalised: give --mean and --std (of its training pixels scaled to [0, 1])");
        }
        net.SetTraining(false);

        Tensor<float> x;
        int first;
        if (image is not null)
        {
            x = Normalize(ReadPng(image), 1, meta);
            first = 0;
            count = 1;
        }
        else
        {
            var file = IdxFile.Read(idx!);
            if (file.Dims.Length != 3 || file.Dims[1] != 28 || file.Dims[2] != 28)
            {
                throw new InvalidDataException($"{idx}: expected images [N, 28, 28]; the IDX header says [{string.Join(", ", file.Dims)}]");
            }
            if ((long)index + count > file.Dims[0])
            {
                throw new UsageException($"--index {index} --count {count} goes past the {file.Dims[0]} images of {idx}");
            }
            x = Normalize(file.Data.AsSpan(index * 784, count * 784), count, meta);
            first = index;
        }

        double[,] p;
        using (GradMode.NoGrad())
        {
            p = CrossEntropy.Softmax(net.Forward(x).Value);
        }
        var names = meta.ClassNames ?? [.. Enumerable.Range(0, p.GetLength(1)).Select(j => j.ToString(CultureInfo.InvariantCulture))];
        if (names.Count != p.GetLength(1))
        {
            throw new InvalidDataException($"{model} names {names.Count} classes but scores {p.GetLength(1)}");
        }
        bool digits = names.SequenceEqual(Enumerable.Range(0, 10).Select(j => j.ToString(CultureInfo.InvariantCulture)));
        for (int i = 0; i < count; i++)
        {
            int best = 0;
            var sb = new StringBuilder();
            for (int j = 0; j < names.Count; j++)
            {
                if (p[i, j] > p[i, best])
                {
                    best = j;
                }
                sb.Append(CultureInfo.InvariantCulture, $" {names[j]}:{p[i, j]:F6}");
            }
            stdout.WriteLine($"image {first + i}: {(digits ? "digit" : "class")} {names[best]}  probabilities{sb}");
        }
        return ExitCodes.Success;
    }

    /// <summary>The normalisation --mean and --std give, or null when neither is given.</summary>
    private OnnxMetadata? Normalization(ParseResult args)
    {
        string? mean = args.GetValue(_mean), std = args.GetValue(_std);
        if ((mean is null) != (std is null))
        {
            throw new UsageException("give --mean and --std together");
        }
        if (mean is null)
        {
            return null;
        }
        double[] Parse(string text, string name) => text.Split(',').Select(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)
            ? d
            : throw new UsageException($"--{name} takes numbers separated by commas; got '{text}'")).ToArray();
        var m = new OnnxMetadata(null, Parse(mean, "mean"), Parse(std!, "std"));
        m.Validate(m.Mean!.Count);
        return m;
    }

    /// <summary><c>[count, 1, 28, 28]</c> from 28x28 pixels: <c>(p/255 − mean)/std</c> (or <c>p/255</c> when the graph normalises).</summary>
    private static Tensor<float> Normalize(ReadOnlySpan<byte> pixels, int count, OnnxMetadata meta)
    {
        double mean = meta.Mean![0], std = meta.Std![0];
        Span<float> lut = stackalloc float[256];
        for (int v = 0; v < 256; v++)
        {
            lut[v] = (float)(meta.NormalizationInGraph ? v / 255.0 : (v / 255.0 - mean) / std);
        }
        var x = Tensor<float>.Uninitialized(count, 1, 28, 28);
        var xs = x.Span;
        for (int i = 0; i < xs.Length; i++)
        {
            xs[i] = lut[pixels[i]];
        }
        return x;
    }

    /// <summary>A PNG as a <c>28×28</c> gray digit, light on dark like MNIST.</summary>
    private static byte[] ReadPng(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path}: no such file", path);
        }
        using var decoded = SKBitmap.Decode(path) ?? throw new InvalidDataException($"{path}: not a readable image");
        using var small = decoded.Width == 28 && decoded.Height == 28
            ? decoded.Copy()
            : decoded.Resize(new SKImageInfo(28, 28), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
        var gray = new byte[28 * 28];
        for (int r = 0; r < 28; r++)
        for (int c = 0; c < 28; c++)
        {
            var px = small.GetPixel(c, r);
            double a = px.Alpha / 255.0;
            // Transparent pixels count as background (white, then inverted below if the image is dark-on-light).
            double lum = (0.299 * px.Red + 0.587 * px.Green + 0.114 * px.Blue) * a + 255 * (1 - a);
            gray[r * 28 + c] = (byte)Math.Clamp(Math.Round(lum), 0, 255);
        }
        if (gray.Average(v => (double)v) > 127)
        {
            for (int i = 0; i < gray.Length; i++)
            {
                gray[i] = (byte)(255 - gray[i]);
            }
        }
        return gray;
    }

    /// <summary>What <c>train</c> writes by default (the ResNet), else the LeNet-style model, in <paramref name="outDir"/>.</summary>
    private static string DefaultModel(string outDir)
    {
        string resnet = Path.Combine(outDir, "resnet.safetensors");
        return File.Exists(resnet) ? resnet : Path.Combine(outDir, "lenet.safetensors");
    }
}
