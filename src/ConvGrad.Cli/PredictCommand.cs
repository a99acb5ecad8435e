using System.CommandLine;
using System.Globalization;
using System.Text;
using ConvGrad.Autograd;
using ConvGrad.Data;
using ConvGrad.Nn;
using SkiaSharp;

namespace ConvGrad.Cli;

/// <summary><c>convgrad predict</c>: classifies digits with saved weights and prints the class probabilities.</summary>
internal sealed class PredictCommand : CliCommand
{
    private readonly Option<string?> _model = CliOptions.OptionalText("model",
        "the safetensors file (default: out/resnet.safetensors at the repository root, as written by `convgrad train`, else out/lenet.safetensors)", helpName: "FILE");
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
        recognised by its tensor names) from a safetensors file with PyTorch's names and layouts and prints, per
        image, one line 'image I: digit D  probabilities 0:p0 1:p1 ... 9:p9'.
        """)
    {
        Options = { _model, _image, _idx, _index, _count, _threads },
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

        var net = DigitModels.FromState(SafeTensorsFile.ReadDictionary(model), new ConvOptions { Threads = threads });
        net.SetTraining(false);

        Tensor<float> x;
        int first;
        if (image is not null)
        {
            x = ReadPng(image);
            first = 0;
            count = 1;
        }
        else
        {
            var file = IdxFile.Read(idx!);
            if (file.Dims.Length != 3 || file.Dims[1] != 28 || file.Dims[2] != 28)
            {
                throw new InvalidDataException($"{idx}: expected images [N, 28, 28]; the IDX header says {Shapes.Format(file.Dims)}");
            }
            if ((long)index + count > file.Dims[0])
            {
                throw new UsageException($"--index {index} --count {count} goes past the {file.Dims[0]} images of {idx}");
            }
            var set = new MnistSet(file.Data, new byte[file.Dims[0]], 28, 28);
            x = Tensor<float>.Uninitialized(count, 1, 28, 28);
            set.FillBatch(Enumerable.Range(index, count).ToArray(), x, new int[count]);
            first = index;
        }

        double[,] p;
        using (GradMode.NoGrad())
        {
            p = CrossEntropy.Softmax(net.Forward(x).Value);
        }
        for (int i = 0; i < count; i++)
        {
            int best = 0;
            var sb = new StringBuilder();
            for (int j = 0; j < 10; j++)
            {
                if (p[i, j] > p[i, best])
                {
                    best = j;
                }
                sb.Append(CultureInfo.InvariantCulture, $" {j}:{p[i, j]:F6}");
            }
            stdout.WriteLine($"image {first + i}: digit {best}  probabilities{sb}");
        }
        return ExitCodes.Success;
    }

    /// <summary>A PNG as a normalised <c>[1, 1, 28, 28]</c> digit, light on dark like MNIST.</summary>
    private static Tensor<float> ReadPng(string path)
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
        var x = Tensor<float>.Uninitialized(1, 1, 28, 28);
        new MnistSet(gray, [0], 28, 28).FillBatch([0], x, new int[1]);
        return x;
    }

    /// <summary>What <c>train</c> writes by default (the ResNet), else the LeNet-style model, in <paramref name="outDir"/>.</summary>
    private static string DefaultModel(string outDir)
    {
        string resnet = Path.Combine(outDir, "resnet.safetensors");
        return File.Exists(resnet) ? resnet : Path.Combine(outDir, "lenet.safetensors");
    }
}
