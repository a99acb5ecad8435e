using System.CommandLine;
using System.Globalization;
using System.Text;
using ConvGrad.Autograd;
using ConvGrad.Data;
using ConvGrad.Nn;
using ConvGrad.Onnx;
using ConvGrad.Vision;

namespace ConvGrad.Cli;

/// <summary><c>convgrad predict</c>: classifies images (files, folders or IDX) with a trained model; prints class names, true labels and the accuracy when labels are known.</summary>
internal sealed class PredictCommand : CliCommand
{
    private readonly Option<string?> _model = CliOptions.OptionalText("model",
        "the safetensors file (default: out/resnet.safetensors at the repository root, as written by `convgrad train`, else out/lenet.safetensors), or an ONNX model (.onnx)", helpName: "FILE");
    private readonly Option<string?> _mean = CliOptions.OptionalText("mean",
        "the per-channel mean of the model's training pixels scaled to [0, 1] (comma-separated), for a model file that does not say (default: what the file says)", helpName: "X[,X...]");
    private readonly Option<string?> _std = CliOptions.OptionalText("std", "the per-channel standard deviation that goes with --mean", helpName: "X[,X...]");
    private readonly Option<string?> _image = CliOptions.OptionalText("image",
        "a PNG or JPEG file of any size, gray or RGB (brought to the model's input as training did), or a folder of them; class subfolders (DIR/<class>/...) give true labels", helpName: "PATH");
    private readonly Option<string?> _idx = CliOptions.OptionalText("idx",
        "an IDX images file [N, H, W] (plain or .gz), e.g. data/mnist-10k/images-idx3-ubyte.gz; the labels file beside it (or --labels) gives true labels", helpName: "FILE");
    private readonly Option<string?> _labels = CliOptions.OptionalText("labels", "the IDX labels file of --idx (default: PREFIXlabels-idx1-ubyte[.gz] beside PREFIXimages-idx3-ubyte)", helpName: "FILE");
    private readonly Option<int> _index = CliOptions.Int("index", "the first image of --idx to classify", 0, 0, int.MaxValue);
    private readonly Option<int> _count = CliOptions.Int("count", "how many consecutive images of --idx", 1, 1, 1_000_000);
    private readonly Option<bool> _invert = CliOptions.Flag("invert", "invert the pixels (255 - p) before normalising, e.g. a dark digit on white for a model trained on MNIST's light-on-dark digits");
    private readonly Option<int> _threads = CliOptions.Int("threads", "worker threads (0: one per processor)", 0, 0, 1024);

    /// <summary>Declares <c>predict</c> and its options.</summary>
    public PredictCommand() => Declaration = new Command("predict", """
        classify images (PNG, JPEG, folders or IDX) with a model saved by train (or by PyTorch, or ONNX)

        Give exactly one of --image PATH or --idx FILE. Loads a model saved by train (its safetensors metadata gives
        the architecture, input shape, class names and normalisation; an older file without it is a digit model), a
        LeNet or ResNet state dict with PyTorch's names (docs/model.md), or an ONNX model (docs/onnx.md). Each image is
        brought to the model's input as training did: resized to its size, converted to its channels (gray or RGB),
        normalised by its mean and std; it is never inverted unless --invert says so. Prints, per image, one line
        'image NAME: class C  [true T  ]probabilities c0:p0 c1:p1 ...', and with true labels (IDX labels, class
        subfolders) a last line 'accuracy: NN.NN% (K of N images)'. A bad image file is skipped with a warning.
        """)
    {
        Options = { _model, _image, _idx, _labels, _index, _count, _invert, _mean, _std, _threads },
    };

    public override Command Declaration { get; }

    public override int Run(ParseResult args, TextWriter stdout, TextWriter stderr)
    {
        string model = args.GetValue(_model) ?? DefaultModel(Path.Combine(RepoPaths.Root() ?? Directory.GetCurrentDirectory(), "out"));
        string? image = args.GetValue(_image);
        string? idx = args.GetValue(_idx);
        if ((image is null) == (idx is null))
        {
            throw new UsageException("give exactly one of --image PATH or --idx FILE");
        }
        if (!File.Exists(model))
        {
            throw new UsageException($"no model file {model} (run `convgrad train` first or pass --model FILE)");
        }

        var loaded = ModelFiles.Load(model, new ConvOptions { Threads = args.GetValue(_threads) }, Normalization(args));
        if (loaded.InputShape.Length != 3 || loaded.InputShape[0] is not (1 or 3))
        {
            throw new UsageException($"{model} takes [{string.Join(", ", loaded.InputShape)}] inputs; predict reads images of 1 or 3 channels [C, H, W]");
        }
        var shape = new ImageShape(loaded.InputShape[0], loaded.InputShape[1], loaded.InputShape[2]);
        var meta = loaded.Metadata;
        if (!meta.HasNormalization)
        {
            throw new UsageException($"{model} does not say how its inputs were normalised: give --mean and --std (of its training pixels scaled to [0, 1])");
        }
        var net = loaded.Module;
        net.SetTraining(false);
        int outputs;
        using (GradMode.NoGrad())
        {
            outputs = net.Forward(Tensor<float>.Zeros(1, shape.Channels, shape.Height, shape.Width)).Value.Dim(1);
        }
        var names = meta.ClassNames ?? [.. Enumerable.Range(0, outputs).Select(j => j.ToString(CultureInfo.InvariantCulture))];
        if (names.Count != outputs)
        {
            throw new InvalidDataException($"{model} names {names.Count} classes but scores {outputs}");
        }

        var images = image is not null
            ? FromPath(image, shape, names, w => stderr.WriteLine($"warning: {w}"))
            : FromIdx(idx!, args.GetValue(_labels), args.GetValue(_index), args.GetValue(_count), shape, names);
        if (args.GetValue(_invert))
        {
            foreach (var im in images)
            {
                for (int i = 0; i < im.Pixels.Length; i++)
                {
                    im.Pixels[i] = (byte)(255 - im.Pixels[i]);
                }
            }
        }

        var table = meta.NormalizationInGraph
            ? new Normalization(Enumerable.Repeat(0.0, shape.Channels).ToArray(), Enumerable.Repeat(1.0, shape.Channels).ToArray()).Table()
            : new Normalization(meta.Mean!, meta.Std!).For(shape.Channels).Table();
        int known = 0, correct = 0, plane = shape.Height * shape.Width;
        const int Chunk = 256;
        for (int start = 0; start < images.Count; start += Chunk)
        {
            int n = Math.Min(Chunk, images.Count - start);
            using var x = Tensor<float>.Uninitialized(n, shape.Channels, shape.Height, shape.Width);
            var xs = x.Span;
            for (int i = 0; i < n; i++)
            {
                var px = images[start + i].Pixels;
                for (int j = 0; j < shape.Length; j++)
                {
                    xs[i * shape.Length + j] = table[(j / plane) * 256 + px[j]];
                }
            }
            double[,] p;
            using (GradMode.NoGrad())
            {
                p = CrossEntropy.Softmax(net.Forward(x).Value);
            }
            for (int i = 0; i < n; i++)
            {
                var item = images[start + i];
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
                string truth = "";
                if (item.Label is int t)
                {
                    known++;
                    correct += t == best ? 1 : 0;
                    truth = $"  true {names[t]}";
                }
                stdout.WriteLine($"image {item.Name}: class {names[best]}{truth}  probabilities{sb}");
            }
        }
        if (known > 0)
        {
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"accuracy: {100.0 * correct / known:F2}% ({correct} of {known} images)"));
        }
        return ExitCodes.Success;
    }

    /// <summary>One image brought to the model's input (8-bit, C×H×W), its name and its true label if known.</summary>
    private sealed record Item(string Name, byte[] Pixels, int? Label);

    /// <summary>An image file, a folder of images, or a folder of class folders (true labels by folder name).</summary>
    private static List<Item> FromPath(string path, ImageShape shape, IReadOnlyList<string> names, Action<string> warn)
    {
        if (File.Exists(path))
        {
            return [new Item(path, ImageFile.Read(path, shape), null)];
        }
        if (!Directory.Exists(path))
        {
            throw new UsageException($"--image: no such file or folder: {path}");
        }
        var files = new List<(string File, int? Label)>();
        var classDirs = Directory.EnumerateDirectories(path).Where(d => !Path.GetFileName(d).StartsWith('.')).Order(StringComparer.Ordinal).ToList();
        foreach (var dir in classDirs)
        {
            string name = Path.GetFileName(dir);
            int label = IndexOf(names, name);
            if (label < 0)
            {
                throw new InvalidDataException($"{dir}: '{name}' is not one of the model's {names.Count} classes ({string.Join(", ", names.Take(12))}{(names.Count > 12 ? ", ..." : "")})");
            }
            files.AddRange(Files(dir).Select(f => (f, (int?)label)));
        }
        files.AddRange(Files(path).Select(f => (f, (int?)null)));
        var items = new List<Item>(files.Count);
        foreach (var (file, label) in files)
        {
            try
            {
                items.Add(new Item(file, ImageFile.Read(file, shape), label));
            }
            catch (InvalidDataException e)
            {
                warn($"{e.Message}; skipped");
            }
        }
        return items.Count > 0 ? items : throw new InvalidDataException($"{path}: no readable PNG or JPEG images");
    }

    private static IEnumerable<string> Files(string dir) =>
        Directory.EnumerateFiles(dir).Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal);

    private static int IndexOf(IReadOnlyList<string> names, string name)
    {
        for (int i = 0; i < names.Count; i++)
        {
            if (names[i] == name)
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>Images <c>[index, index + count)</c> of an IDX file, with the labels file's labels when there is one.</summary>
    private static List<Item> FromIdx(string idx, string? labelsPath, int index, int count, ImageShape shape, IReadOnlyList<string> names)
    {
        var file = IdxFile.Read(idx);
        if (file.Dims.Length != 3 || file.Dims[1] != shape.Height || file.Dims[2] != shape.Width)
        {
            throw new InvalidDataException($"{idx}: expected images [N, {shape.Height}, {shape.Width}] for the model's {shape} input; the IDX header says [{string.Join(", ", file.Dims)}]");
        }
        if ((long)index + count > file.Dims[0])
        {
            throw new UsageException($"--index {index} --count {count} goes past the {file.Dims[0]} images of {idx}");
        }
        string name = Path.GetFileName(idx);
        labelsPath ??= name.Contains("images-idx3-ubyte", StringComparison.Ordinal)
            ? new[] { "", ".gz" }.Select(ext => Path.Combine(Path.GetDirectoryName(idx) ?? "", name.Replace("images-idx3-ubyte", "labels-idx1-ubyte", StringComparison.Ordinal).Replace(".gz", "", StringComparison.Ordinal) + ext))
                .FirstOrDefault(File.Exists)
            : null;
        byte[]? labels = null;
        if (labelsPath is not null)
        {
            var l = IdxFile.Read(labelsPath);
            if (l.Dims.Length != 1 || l.Dims[0] != file.Dims[0])
            {
                throw new InvalidDataException($"{labelsPath}: expected {file.Dims[0]} labels [N] for {idx}; the IDX header says [{string.Join(", ", l.Dims)}]");
            }
            labels = l.Data;
        }
        int plane = shape.Height * shape.Width;
        var items = new List<Item>(count);
        for (int i = index; i < index + count; i++)
        {
            var px = new byte[shape.Length];
            for (int c = 0; c < shape.Channels; c++)
            {
                file.Data.AsSpan(i * plane, plane).CopyTo(px.AsSpan(c * plane));
            }
            int? label = labels is null ? null : labels[i];
            if (label >= names.Count)
            {
                throw new InvalidDataException($"{labelsPath}: label {label} of image {i} is not one of the model's {names.Count} classes");
            }
            items.Add(new Item(i.ToString(CultureInfo.InvariantCulture), px, label));
        }
        return items;
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

    /// <summary>What <c>train</c> writes by default (the ResNet), else the LeNet-style model, in <paramref name="outDir"/>.</summary>
    private static string DefaultModel(string outDir)
    {
        string resnet = Path.Combine(outDir, "resnet.safetensors");
        return File.Exists(resnet) ? resnet : Path.Combine(outDir, "lenet.safetensors");
    }
}
