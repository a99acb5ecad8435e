using System.Numerics;
using ConvGrad.Distributed;

namespace ConvGrad.Data;

/// <summary>
/// MNIST-style digits: <see cref="Count"/> images of <see cref="Rows"/>×<see cref="Cols"/> bytes (0 = background)
/// and their labels 0–9. Batches are normalised to <c>(p/255 − 0.1307)/0.3081</c> (MNIST's mean and deviation).
/// </summary>
public sealed class MnistSet
{
    /// <summary>MNIST's pixel mean on the [0, 1] scale.</summary>
    public const double Mean = 0.1307;

    /// <summary>MNIST's pixel standard deviation on the [0, 1] scale.</summary>
    public const double Std = 0.3081;

    private readonly byte[] _images;
    private readonly byte[] _labels;

    /// <summary>Wraps images <c>[count, rows, cols]</c> and labels <c>[count]</c>.</summary>
    /// <param name="images">The pixels, rows·cols bytes per image.</param>
    /// <param name="labels">The label of each sample.</param>
    /// <param name="rows">Image height.</param>
    /// <param name="cols">Image width.</param>
    public MnistSet(byte[] images, byte[] labels, int rows, int cols)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (rows < 1 || cols < 1 || images.Length != (long)labels.Length * rows * cols)
        {
            throw new ArgumentException($"{labels.Length} labels need {(long)labels.Length * rows * cols} image bytes of {rows}x{cols}; got {images.Length}", nameof(images));
        }
        _images = images;
        _labels = labels;
        Rows = rows;
        Cols = cols;
    }

    /// <summary>Reads an images file <c>[N, rows, cols]</c> and a labels file <c>[N]</c> (IDX, plain or gzip).</summary>
    /// <exception cref="InvalidDataException">A file is bad, or the counts disagree; the message names the file(s).</exception>
    /// <param name="imagesPath">The IDX images file.</param>
    /// <param name="labelsPath">The IDX labels file.</param>
    public static MnistSet Load(string imagesPath, string labelsPath)
    {
        var images = IdxFile.Read(imagesPath);
        var labels = IdxFile.Read(labelsPath);
        if (images.Dims.Length != 3)
        {
            throw new InvalidDataException($"{imagesPath}: expected images [N, rows, cols]; the IDX header says {Shapes.Format(images.Dims)}");
        }
        if (labels.Dims.Length != 1)
        {
            throw new InvalidDataException($"{labelsPath}: expected labels [N]; the IDX header says {Shapes.Format(labels.Dims)}");
        }
        if (images.Dims[0] != labels.Dims[0])
        {
            throw new InvalidDataException($"count mismatch: {imagesPath} has {images.Dims[0]} images but {labelsPath} has {labels.Dims[0]} labels");
        }
        int bad = Array.FindIndex(labels.Data, l => l > 9);
        if (bad >= 0)
        {
            throw new InvalidDataException($"{labelsPath}: label {labels.Data[bad]} at index {bad} is not a digit 0-9");
        }
        return new MnistSet(images.Data, labels.Data, images.Dims[1], images.Dims[2]);
    }

    /// <summary>Number of digits.</summary>
    public int Count => _labels.Length;

    /// <summary>Image height.</summary>
    public int Rows { get; }

    /// <summary>Image width.</summary>
    public int Cols { get; }

    /// <summary>The label of digit <paramref name="index"/>.</summary>
    /// <param name="index">The sample, 0-based.</param>
    public int Label(int index) => _labels[index];

    /// <summary>The raw pixels of digit <paramref name="index"/>.</summary>
    /// <param name="index">The sample, 0-based.</param>
    public ReadOnlySpan<byte> Image(int index) => _images.AsSpan(index * Rows * Cols, Rows * Cols);

    /// <summary>Digits <c>[start, start + count)</c> as a new set.</summary>
    /// <param name="start">The first sample.</param>
    /// <param name="count">The number of samples.</param>
    public MnistSet Slice(int start, int count)
    {
        if (start < 0 || count < 1 || start + count > Count)
        {
            throw new ArgumentException($"slice [{start}, {start + count}) is outside the {Count} digits", nameof(start));
        }
        int px = Rows * Cols;
        return new MnistSet(_images.AsSpan(start * px, count * px).ToArray(), _labels.AsSpan(start, count).ToArray(), Rows, Cols);
    }

    /// <summary>
    /// Writes the normalised digits <paramref name="indices"/> into <paramref name="x"/> <c>[B, 1, rows, cols]</c> and their
    /// labels into <paramref name="labels"/>. With <paramref name="shiftRng"/>, each digit is translated by a random whole
    /// number of pixels in [−maxShift, maxShift] on each axis (uncovered pixels are background).
    /// </summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="indices">The samples of the batch, by position in this set.</param>
    /// <param name="x">The batch tensor <c>[B, 1, rows, cols]</c> to fill with pixels scaled to [0, 1].</param>
    /// <param name="labels">Receives the label of each sample of the batch.</param>
    /// <param name="shiftRng">The random source of the shifts, or null for none.</param>
    /// <param name="maxShift">The largest random shift, in pixels, of each image on each axis (0: no augmentation).</param>
    public void FillBatch<T>(ReadOnlySpan<int> indices, Tensor<T> x, Span<int> labels, Random? shiftRng = null, int maxShift = 0)
        where T : unmanaged, IFloatingPointIeee754<T> => Fill(indices, x, labels, shiftRng, maxShift, keyed: false, 0, 0);

    /// <summary>
    /// As <see cref="FillBatch{T}(ReadOnlySpan{int}, Tensor{T}, Span{int}, Random?, int)"/>, but sample <c>k</c>'s shift comes
    /// from <c>new SampleRandom(seed, epoch, k)</c> (k its index in this set), so a digit is shifted the same in any batch,
    /// on any rank and after a resume.
    /// </summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="indices">The samples of the batch, by position in this set.</param>
    /// <param name="x">The batch tensor <c>[B, 1, rows, cols]</c> to fill with pixels scaled to [0, 1].</param>
    /// <param name="labels">Receives the label of each sample of the batch.</param>
    /// <param name="maxShift">The largest random shift, in pixels, of each image on each axis (0: no augmentation).</param>
    /// <param name="seed">The run seed; with <paramref name="epoch"/> and the sample index it fixes each sample's shift.</param>
    /// <param name="epoch">The epoch (0-based).</param>
    public void FillBatch<T>(ReadOnlySpan<int> indices, Tensor<T> x, Span<int> labels, int maxShift, ulong seed, long epoch)
        where T : unmanaged, IFloatingPointIeee754<T> => Fill(indices, x, labels, null, maxShift, keyed: true, seed, epoch);

    private void Fill<T>(ReadOnlySpan<int> indices, Tensor<T> x, Span<int> labels, Random? shiftRng, int maxShift, bool keyed, ulong seed, long epoch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        int b = indices.Length, px = Rows * Cols;
        if (x.Rank != 4 || x.Dim(0) != b || x.Dim(1) != 1 || x.Dim(2) != Rows || x.Dim(3) != Cols || labels.Length != b)
        {
            throw new ArgumentException($"x must be [{b}, 1, {Rows}, {Cols}] and labels hold {b}; got {Shapes.Format(x.Shape)} and {labels.Length}", nameof(x));
        }
        Span<T> lut = stackalloc T[256];
        for (int v = 0; v < 256; v++)
        {
            lut[v] = T.CreateChecked((v / 255.0 - Mean) / Std);
        }
        var xs = x.Span;
        for (int i = 0; i < b; i++)
        {
            var img = Image(indices[i]);
            var dst = xs.Slice(i * px, px);
            labels[i] = _labels[indices[i]];
            int dr = 0, dc = 0;
            if (keyed && maxShift > 0)
            {
                var random = new SampleRandom(seed, epoch, indices[i]);
                dr = random.NextInt(-maxShift, maxShift);
                dc = random.NextInt(-maxShift, maxShift);
            }
            else if (shiftRng is not null && maxShift > 0)
            {
                dr = shiftRng.Next(-maxShift, maxShift + 1);
                dc = shiftRng.Next(-maxShift, maxShift + 1);
            }
            for (int r = 0; r < Rows; r++)
            {
                int sr = r - dr;
                for (int c = 0; c < Cols; c++)
                {
                    int sc = c - dc;
                    dst[r * Cols + c] = (uint)sr < (uint)Rows && (uint)sc < (uint)Cols ? lut[img[sr * Cols + sc]] : lut[0];
                }
            }
        }
    }
}

/// <summary>Finds MNIST files in a folder: the bundled 10,000-digit subset or the official train/test files.</summary>
public static class MnistFiles
{
    /// <summary>The official MNIST file names (each may also end in .gz).</summary>
    public static readonly string[] Official = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    /// <summary>The bundled subset's file names (each may also end in .gz).</summary>
    public static readonly string[] Bundled = ["images-idx3-ubyte", "labels-idx1-ubyte"];

    /// <summary>True when <paramref name="dir"/> holds the bundled subset's two files.</summary>
    /// <param name="dir">The folder to look in.</param>
    public static bool IsBundled(string dir) => Bundled.All(n => Find(dir, n) is not null);

    /// <summary>Loads the official train and test sets from <paramref name="dir"/>.</summary>
    /// <exception cref="FileNotFoundException">Some files are missing; the message lists them.</exception>
    /// <param name="dir">The folder to look in.</param>
    public static (MnistSet Train, MnistSet Test) LoadOfficial(string dir)
    {
        var paths = Official.Select(n => (Name: n, Path: Find(dir, n))).ToArray();
        var missing = paths.Where(p => p.Path is null).Select(p => $"{p.Name}[.gz]").ToList();
        if (missing.Count > 0)
        {
            throw new FileNotFoundException(
                $"{dir}: missing {string.Join(", ", missing)} (expected the official MNIST files {string.Join(", ", Official)}, plain or .gz, " +
                $"or the bundled subset's {string.Join(" and ", Bundled)})");
        }
        return (MnistSet.Load(paths[0].Path!, paths[1].Path!), MnistSet.Load(paths[2].Path!, paths[3].Path!));
    }

    /// <summary>Loads the bundled subset's single set from <paramref name="dir"/>.</summary>
    /// <param name="dir">The folder to look in.</param>
    public static MnistSet LoadBundled(string dir)
    {
        var images = Find(dir, Bundled[0]) ?? throw new FileNotFoundException($"{dir}: missing {Bundled[0]}[.gz]");
        var labels = Find(dir, Bundled[1]) ?? throw new FileNotFoundException($"{dir}: missing {Bundled[1]}[.gz]");
        return MnistSet.Load(images, labels);
    }

    /// <summary>The path of <paramref name="name"/> or <paramref name="name"/>.gz in <paramref name="dir"/>, or null.</summary>
    /// <param name="dir">The folder to look in.</param>
    /// <param name="name">The file name, without a .gz suffix.</param>
    public static string? Find(string dir, string name)
    {
        foreach (var candidate in new[] { name, name + ".gz" })
        {
            string p = Path.Combine(dir, candidate);
            if (File.Exists(p))
            {
                return p;
            }
        }
        return null;
    }
}
