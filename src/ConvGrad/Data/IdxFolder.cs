using System.Text.RegularExpressions;

namespace ConvGrad.Data;

/// <summary>
/// IDX datasets in a folder — MNIST, EMNIST-style and other sets of 8-bit images <c>[N, H, W]</c> with labels
/// <c>[N]</c>, plain or gzip, with any number of classes. Class names come from <c>classes.txt</c> beside the files
/// (one name per line, label 0 first), else they are the labels' numbers.
/// </summary>
/// <remarks>
/// Files pair by name: <c>PREFIXimages-idx3-ubyte</c> with <c>PREFIXlabels-idx1-ubyte</c> (each may end in .gz). A
/// prefix containing <c>train</c> is the training set and the same prefix with <c>t10k</c> or <c>test</c> in its
/// place is held out (the official <c>train-…</c>/<c>t10k-…</c>, EMNIST's <c>emnist-letters-train-…</c>/<c>…-test-…</c>).
/// A single pair without <c>train</c> (the bundled <c>images-idx3-ubyte</c>) is split: the first 4/5 train, the rest is
/// held out. MNIST's own files (the bundled and the official names) keep MNIST's normalisation
/// (<see cref="Normalization.Mnist"/>); other sets are normalised by their training set's statistics.
/// </remarks>
public static partial class IdxFolder
{
    /// <summary>The classes file's name.</summary>
    public const string ClassesFile = "classes.txt";

    /// <summary>Whether <paramref name="dir"/> holds IDX image files.</summary>
    /// <param name="dir">The folder.</param>
    public static bool Contains(string dir) => Directory.Exists(dir) && Pairs(dir).Count > 0;

    /// <summary>Loads the training and held-out sets of <paramref name="dir"/>.</summary>
    /// <param name="dir">The folder.</param>
    /// <exception cref="FileNotFoundException">Files are missing; the message lists them.</exception>
    /// <exception cref="InvalidDataException">A file is bad, counts disagree, or classes.txt does not fit; the message names the file.</exception>
    public static DataSplit Load(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        var pairs = Pairs(dir);
        var trains = pairs.Keys.Where(p => p.Contains("train", StringComparison.Ordinal)).ToList();
        string[]? names = ReadClasses(dir);
        if (trains.Count == 0 && pairs.Count == 1)
        {
            string prefix = pairs.Keys.Single();
            var all = LoadPair(dir, prefix, pairs[prefix], names);
            if (all.Count < 2)
            {
                throw new InvalidDataException($"{dir}: only {all.Count} images");
            }
            int trainCount = all.Count * 4 / 5;
            return new DataSplit(all.Slice(0, trainCount), all.Slice(trainCount, all.Count - trainCount),
                $"{dir} ({all.Count} images: first {trainCount} train, last {all.Count - trainCount} held out)", prefix == "" ? Normalization.Mnist : null);
        }
        if (trains.Count > 1)
        {
            throw new InvalidDataException($"{dir}: several training sets ({string.Join(", ", trains.Select(t => t + "images-idx3-ubyte"))}); keep one per folder");
        }
        string train = trains.Count == 1 ? trains[0] : "train-";
        var testPrefixes = new[] { train.Replace("train", "t10k", StringComparison.Ordinal), train.Replace("train", "test", StringComparison.Ordinal) };
        string test = testPrefixes.FirstOrDefault(pairs.ContainsKey) ?? testPrefixes[0];
        var missing = new List<string>();
        foreach (var p in new[] { train, test })
        {
            foreach (var kind in new[] { "images-idx3-ubyte", "labels-idx1-ubyte" })
            {
                if (MnistFind(dir, p + kind) is null)
                {
                    missing.Add($"{p}{kind}[.gz]");
                }
            }
        }
        if (missing.Count > 0)
        {
            throw new FileNotFoundException(
                $"{dir}: missing {string.Join(", ", missing)} (an IDX dataset is PREFIXtrain-images-idx3-ubyte and -labels-idx1-ubyte with the same for t10k- or test-, " +
                "plain or .gz, as the official MNIST files; or one images-idx3-ubyte with labels-idx1-ubyte; or a folder of class folders of images)");
        }
        var trainSet = LoadPair(dir, train, null, names);
        var testSet = LoadPair(dir, test, null, names);
        int classes = Math.Max(trainSet.Classes.Count, testSet.Classes.Count);
        if (names is null && trainSet.Classes.Count != testSet.Classes.Count)
        {
            // Without classes.txt the class count is the largest label + 1 over both sets.
            var numbers = Numbers(classes);
            trainSet = Relabel(trainSet, numbers);
            testSet = Relabel(testSet, numbers);
        }
        return new DataSplit(trainSet, testSet, $"{dir} ({train}/{test} split: {trainSet.Count} train, {testSet.Count} held out, {classes} classes)",
            train == "train-" ? Normalization.Mnist : null);
    }

    /// <summary>Reads an images file <c>[N, H, W]</c> and a labels file <c>[N]</c> (IDX, plain or gzip) as one-channel images.</summary>
    /// <param name="imagesPath">The IDX images file.</param>
    /// <param name="labelsPath">The IDX labels file.</param>
    /// <param name="classes">The class names (more than the largest label), or null for the labels' numbers.</param>
    /// <exception cref="InvalidDataException">A file is bad, the counts disagree, or a label has no class; the message names the file(s).</exception>
    public static ImageSet LoadSet(string imagesPath, string labelsPath, IReadOnlyList<string>? classes = null)
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
        if (images.Dims[0] == 0)
        {
            throw new InvalidDataException($"{imagesPath}: no images");
        }
        int max = labels.Data.Max();
        if (classes is not null && max >= classes.Count)
        {
            int at = Array.IndexOf(labels.Data, (byte)max);
            throw new InvalidDataException($"{labelsPath}: label {max} at index {at} has no class: {ClassesFile} names {classes.Count}");
        }
        return new ImageSet(images.Data, labels.Data.Select(l => (int)l).ToArray(), new ImageShape(1, images.Dims[1], images.Dims[2]), classes ?? Numbers(max + 1));
    }

    private static ImageSet LoadPair(string dir, string prefix, (string Images, string Labels)? pair, string[]? names)
    {
        var images = pair?.Images ?? MnistFind(dir, prefix + "images-idx3-ubyte")!;
        var labels = pair?.Labels ?? MnistFind(dir, prefix + "labels-idx1-ubyte")!;
        return LoadSet(images, labels, names);
    }

    private static ImageSet Relabel(ImageSet set, string[] classes)
    {
        var labels = Enumerable.Range(0, set.Count).Select(set.Label).ToArray();
        var pixels = new byte[(long)set.Count * set.Shape.Length];
        for (int i = 0; i < set.Count; i++)
        {
            set.Pixels(i).CopyTo(pixels.AsSpan(i * set.Shape.Length));
        }
        return new ImageSet(pixels, labels, set.Shape, classes);
    }

    private static string[] Numbers(int count) => [.. Enumerable.Range(0, count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))];

    private static string[]? ReadClasses(string dir)
    {
        string path = Path.Combine(dir, ClassesFile);
        if (!File.Exists(path))
        {
            return null;
        }
        var lines = File.ReadAllLines(path).Select(l => l.Trim()).ToList();
        while (lines.Count > 0 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1);
        }
        int blank = lines.FindIndex(l => l.Length == 0);
        if (lines.Count == 0 || blank >= 0)
        {
            throw new InvalidDataException($"{path}: {(lines.Count == 0 ? "no class names" : $"line {blank + 1} is blank")}; write one class name per line, label 0 first");
        }
        var twice = lines.GroupBy(l => l, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null)
        {
            throw new InvalidDataException($"{path}: class name '{twice.Key}' is given twice");
        }
        return [.. lines];
    }

    /// <summary>Image/label file pairs in <paramref name="dir"/> by prefix.</summary>
    private static Dictionary<string, (string Images, string Labels)> Pairs(string dir)
    {
        var result = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(dir).Order(StringComparer.Ordinal))
        {
            var m = ImagesName().Match(Path.GetFileName(f));
            if (m.Success && !result.ContainsKey(m.Groups[1].Value) && MnistFind(dir, m.Groups[1].Value + "labels-idx1-ubyte") is { } labels)
            {
                result[m.Groups[1].Value] = (f, labels);
            }
            else if (m.Success && m.Groups[1].Value.Contains("train", StringComparison.Ordinal) && !result.ContainsKey(m.Groups[1].Value))
            {
                // A training images file whose labels are missing still marks the folder as IDX (Load lists what is missing).
                result[m.Groups[1].Value] = (f, "");
            }
        }
        return result;
    }

    [GeneratedRegex(@"^(.*)images-idx3-ubyte(\.gz)?$")]
    private static partial Regex ImagesName();

    /// <summary>The path of <paramref name="name"/> or <paramref name="name"/>.gz in <paramref name="dir"/>, or null.</summary>
    private static string? MnistFind(string dir, string name)
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
