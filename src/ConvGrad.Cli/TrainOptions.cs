using System.CommandLine;
using System.Globalization;
using ConvGrad.Nn;
using ConvGrad.Training;
using ConvGrad.Vision;

namespace ConvGrad.Cli;

/// <summary>
/// The options of <c>convgrad train</c> — their names, help, defaults and ranges — and their binding to the library's
/// <see cref="TrainingConfig"/> (what shapes the run, and what a checkpoint compares) and <see cref="ImageFolderOptions"/>.
/// </summary>
internal sealed class TrainOptions
{
    /// <summary>
    /// The default epochs of the LeNet-style model (and of an imported graph) and of the ResNet. At 8 the ResNet's
    /// held-out accuracy was 99.20 / 98.95 / 99.20 % for seeds 1-3, short of issue 14's 99.2 % mean; 15 epochs cost
    /// ≈ 15 s of CPU each (about 4 min of CPU, well inside the 10-minute budget on 2 cores).
    /// </summary>
    private const int LeNetEpochs = 8, ResNetEpochs = 15;

    /// <summary>
    /// The default limit of a collective, in seconds: PyTorch's process groups wait 10 minutes (30 for NCCL); a
    /// training step here is well under a second and a rank's start (data, JIT) under a minute, so 5 minutes only
    /// ever fires on a dead rank or link.
    /// </summary>
    private const double DefaultCollectiveTimeoutSeconds = 300;

    public Option<string> Model { get; } = CliOptions.Text("model",
        "resnet (3 stages x 2 basic blocks, 16/32/64 channels; the default, the more accurate) or lenet (the LeNet-style CNN, several times faster); docs/model.md has measured accuracy and times; with --init-from, the file's", "resnet", ImageClassifiers.Names);
    public Option<int?> Epochs { get; } = CliOptions.OptionalInt("epochs", $"passes over the training images (default {LeNetEpochs}; resnet {ResNetEpochs})", 1, 10_000);
    public Option<int> BatchSize { get; } = CliOptions.Int("batch-size", "images per step", 64, 1, 65_536);
    public Option<string> Optimizer { get; } = CliOptions.Text("optimizer", "sgd (momentum, Nesterov) or adam", "sgd", ["sgd", "adam"]);
    public Option<double?> Lr { get; } = CliOptions.OptionalDouble("lr", "peak learning rate of the one-cycle schedule (default 0.1 sgd, 0.003 adam)", 1e-9, 1e6);
    public Option<double> Momentum { get; } = CliOptions.Double("momentum", "SGD momentum", 0.9, 0, 0.999);
    public Option<double> WeightDecay { get; } = CliOptions.Double("weight-decay", "L2 weight decay", 5e-4, 0, 1);
    public Option<double> Dropout { get; } = CliOptions.Double("dropout", "dropout before LeNet's last layer (the ResNet has none)", 0.25, 0, 0.95);
    public Option<int> Shift { get; } = CliOptions.Int("shift", "random shifts of up to PX pixels on training images (0 = off)", 2, 0, 64);
    public Option<int> CropPadding { get; } = CliOptions.Int("crop-padding", "random crops of the training images padded by PX zeros on each side (torchvision's RandomCrop(size, padding); 0 = off)", 0, 0, 64);
    public Option<bool> Flip { get; } = CliOptions.Flag("flip", "random horizontal flips of half the training images (not for digits or text)");
    public Option<int> Seed { get; } = CliOptions.Int("seed", "initial weights, shuffling, shifts and dropout", 1, 0, int.MaxValue - 1);
    public Option<int> Threads { get; } = CliOptions.Int("threads", "worker threads of the convolutions (0: one per processor)", 0, 0, 1024);
    public Option<string?> Data { get; } = CliOptions.OptionalText("data",
        "the data: IDX files (MNIST-style, any class count, classes.txt beside them) or image folders (DIR/<class>/*.png|jpg, or DIR/train/<class>/ with DIR/test/ or val/); default: the bundled data/mnist-10k", helpName: "DIR");
    public Option<string?> Size { get; } = CliOptions.OptionalText("size", "resize every image of an image folder to HxW (default: the size all its images share)", helpName: "HxW");
    public Option<int?> Channels { get; } = CliOptions.OptionalInt("channels", "read an image folder as 1 (gray) or 3 (RGB) channels (default: 1 when every file is gray, else 3)", 1, 3);
    public Option<string?> Out { get; } = CliOptions.OptionalText("out", "output folder (default: out/ at the repository root, git-ignored)", helpName: "DIR");
    public Option<int> Validation { get; } = CliOptions.Int("validation",
        "train on all but the last N training images and report accuracy on those N (for tuning; the held-out images stay untouched)", 0, 0, int.MaxValue);
    public Option<int> TrainLimit { get; } = CliOptions.Int("train-limit", "train on only the first N training images (quick runs; 0: all)", 0, 0, int.MaxValue);
    public Option<string> Device { get; } = DeviceOption.Declare();
    public Option<bool> Distributed { get; } = CliOptions.Flag("distributed",
        "data-parallel training under Open MPI's mpirun -np R (docs/distributed.md): each rank trains its shard of every global batch; gradients averaged by all-reduce");
    public Option<double> CollectiveTimeout { get; } = CliOptions.Double("collective-timeout",
        "with --distributed: seconds a collective (all-reduce, barrier) may wait for the other ranks before the job ends with exit 1, naming the collective and the step (a dead rank or a cut link; 0: wait forever)",
        DefaultCollectiveTimeoutSeconds, 0, 86_400);
    public Option<bool> AllowNonFinite { get; } = CliOptions.Flag("allow-non-finite",
        "turn the divergence guard off: by default a NaN or infinite loss, gradient or weight stops training at once with exit 1, naming the epoch, step and quantity, and saves nothing of that step");
    public Option<bool> DetectAnomaly { get; } = CliOptions.Flag("detect-anomaly",
        "check every operation's output and gradient (PyTorch's anomaly mode) so that a divergence also names the first operation that went non-finite (slower)");
    public Option<bool> Profile { get; } = CliOptions.Flag("profile",
        "time every training step per operation kind (conv forward/dX/dW, batch norm, relu, pooling, loss, optimizer step, layout reorders, data loading, ...) and print a table of forward and backward milliseconds per step and each kind's share of the step at the end (docs/profiling.md); results are unchanged");
    public Option<bool> Resume { get; } = CliOptions.Flag("resume",
        "continue from the checkpoint in --out (written after every epoch); with the same options the final weights are bitwise those of an uninterrupted run; with more --epochs it extends the run by a new one-cycle over the added epochs");
    public Option<string?> InitFrom { get; } = CliOptions.OptionalText("init-from",
        "fine-tune: start from the weights of FILE with a fresh optimiser and schedule; a .safetensors written by train (its architecture, input and classes must fit the run) or an .onnx model, whose graph is trained as it is and saved as DIR/graph.onnx", helpName: "FILE");

    // Hidden, for tests: end (as if the job died) after N epochs' checkpoints; the gradient bucket size.
    public Option<int> StopAfterEpoch { get; } = Hidden(CliOptions.Int("stop-after-epoch", "end after N epochs' checkpoints (tests)", 0, 0, 10_000));
    public Option<int> BucketBytes { get; } = Hidden(CliOptions.Int("bucket-bytes", "gradient bucket size (tests)", 64 << 10, 4, int.MaxValue));

    // Hidden, for the note: after training, measure the autograd's own share of a step, best of N repeats.
    public Option<int> AutogradOverhead { get; } = Hidden(CliOptions.Int("autograd-overhead", "measure the autograd's share of a step, best of N (diagnostics)", 0, 0, 10_000));

    /// <summary>Every option, in the order the help lists them.</summary>
    public IEnumerable<Option> All =>
    [
        Model, Epochs, BatchSize, Optimizer, Lr, Momentum, WeightDecay, Dropout, Shift, CropPadding, Flip, Seed, Threads, Data, Size, Channels, Out,
        Validation, TrainLimit, Device, Distributed, CollectiveTimeout, AllowNonFinite, DetectAnomaly, Profile, Resume, InitFrom, StopAfterEpoch, BucketBytes, AutogradOverhead,
    ];

    /// <summary>The folder of --data, or the bundled digits.</summary>
    public string DataFolder(ParseResult args) => args.GetValue(Data) switch
    {
        null => RepoPaths.BundledData() ?? throw new UsageException("cannot find the bundled digits (data/mnist-10k); pass --data DIR"),
        var dir when !Directory.Exists(dir) => throw new UsageException($"--data: no such folder: {dir}"),
        var dir => dir,
    };

    /// <summary>The full path of --init-from, or null.</summary>
    public string? InitFromPath(ParseResult args) => args.GetValue(InitFrom) is { } file ? Path.GetFullPath(file) : null;

    /// <summary>
    /// The run's config from the command line: the model is --model, or the architecture of the file to start from
    /// when --model is not given; epochs and the rate default by model and optimiser.
    /// </summary>
    public TrainingConfig Config(ParseResult args, InitialModel? initial)
    {
        string model = args.GetValue(Model)!, optimizer = args.GetValue(Optimizer)!;
        if (initial is not null && !args.Given(Model))
        {
            model = initial.Architecture;
        }
        else if (initial?.Architecture == InitialModel.GraphArchitecture)
        {
            throw new UsageException($"--model {model}: an ONNX --init-from is trained as its own graph; leave --model out");
        }
        return new TrainingConfig
        {
            Model = model,
            Epochs = args.GetValue(Epochs) ?? (model == "resnet" ? ResNetEpochs : LeNetEpochs),
            BatchSize = args.GetValue(BatchSize),
            Optimizer = optimizer,
            LearningRate = args.GetValue(Lr) ?? (optimizer == "sgd" ? 0.1 : 0.003),
            Momentum = args.GetValue(Momentum),
            WeightDecay = args.GetValue(WeightDecay),
            Dropout = args.GetValue(Dropout),
            Shift = args.GetValue(Shift),
            CropPadding = args.GetValue(CropPadding),
            HorizontalFlip = args.GetValue(Flip),
            Seed = args.GetValue(Seed),
            InitFrom = InitFromPath(args),
        };
    }

    /// <summary>How --channels and --size read an image folder.</summary>
    public ImageFolderOptions ImageFolder(ParseResult args)
    {
        string? size = args.GetValue(Size);
        if (size is null)
        {
            return new ImageFolderOptions { Channels = args.GetValue(Channels) };
        }
        var parts = size.Split('x');
        return parts.Length == 2 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out int h) && int.TryParse(parts[1], CultureInfo.InvariantCulture, out int w)
               && h is >= 1 and <= 4096 && w is >= 1 and <= 4096
            ? new ImageFolderOptions { Channels = args.GetValue(Channels), Size = (h, w) }
            : throw new UsageException($"--size takes HxW, e.g. 32x32 (1 to 4096 each); got '{size}'");
    }

    private static Option<T> Hidden<T>(Option<T> option)
    {
        option.Hidden = true;
        return option;
    }
}
