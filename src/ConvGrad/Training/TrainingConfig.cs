using System.Globalization;

namespace ConvGrad.Training;

/// <summary>
/// Everything that shapes a training run of <see cref="TrainingRun"/>: the model, the optimiser and its schedule, the
/// batch, the augmentation and the seed. Two runs with equal configs on the same data give bitwise equal weights
/// (for a thread count and instruction-set tier), so a checkpoint is only continued by a run with the same config
/// (<see cref="Differences"/> says what differs).
/// </summary>
public sealed record TrainingConfig
{
    /// <summary>
    /// The model's name: <c>lenet</c> or <c>resnet</c> (see <see cref="Nn.ImageClassifiers.Names"/>), or
    /// <see cref="InitialModel.GraphArchitecture"/> for a module graph that <see cref="InitFrom"/> holds (an imported ONNX model).
    /// </summary>
    public string Model { get; init; } = "resnet";

    /// <summary>Passes over the training set.</summary>
    public int Epochs { get; init; } = 15;

    /// <summary>Images per optimiser step (the global batch: with several ranks each takes a shard of it).</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>The optimiser: <c>sgd</c> (momentum, Nesterov) or <c>adam</c>.</summary>
    public string Optimizer { get; init; } = "sgd";

    /// <summary>The peak learning rate of the one-cycle schedule.</summary>
    public double LearningRate { get; init; } = 0.1;

    /// <summary>SGD's momentum (unused by Adam).</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>L2 weight decay.</summary>
    public double WeightDecay { get; init; } = 5e-4;

    /// <summary>Dropout before LeNet's last layer (the ResNet has none).</summary>
    public double Dropout { get; init; } = 0.25;

    /// <summary>Random shifts of up to this many pixels on each axis of every training image (0: none).</summary>
    public int Shift { get; init; } = 2;

    /// <summary>The seed of the initial weights, the shuffles, the shifts and dropout.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Random crops of the image padded by this many zero pixels on each side (0: none; torchvision's <c>RandomCrop(size, padding)</c>).</summary>
    public int CropPadding { get; init; }

    /// <summary>Random horizontal flips (half the images; not for digits or text).</summary>
    public bool HorizontalFlip { get; init; }

    /// <summary>
    /// The model file whose weights the run starts from (fine-tuning, <see cref="InitialModel"/>), or null for fresh
    /// weights from <see cref="Seed"/>. The optimiser state and the schedule start afresh either way.
    /// </summary>
    public string? InitFrom { get; init; }

    /// <summary>The options that differ between this config and <paramref name="other"/>, each with both values.</summary>
    /// <param name="other">The config to compare with (its values are the <see cref="OptionChange.New"/> ones).</param>
    public IReadOnlyList<OptionChange> Differences(TrainingConfig other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var changes = new List<OptionChange>();
        void Compare(string name, string old, string @new)
        {
            if (old != @new)
            {
                changes.Add(new OptionChange(name, old, @new));
            }
        }
        Compare("model", Model, other.Model);
        Compare("epochs", I(Epochs), I(other.Epochs));
        Compare("batch-size", I(BatchSize), I(other.BatchSize));
        Compare("optimizer", Optimizer, other.Optimizer);
        Compare("lr", R(LearningRate), R(other.LearningRate));
        Compare("momentum", R(Momentum), R(other.Momentum));
        Compare("weight-decay", R(WeightDecay), R(other.WeightDecay));
        Compare("dropout", R(Dropout), R(other.Dropout));
        Compare("shift", I(Shift), I(other.Shift));
        Compare("seed", I(Seed), I(other.Seed));
        Compare("crop-padding", I(CropPadding), I(other.CropPadding));
        Compare("flip", HorizontalFlip ? "on" : "off", other.HorizontalFlip ? "on" : "off");
        Compare("init-from", InitFrom ?? "none", other.InitFrom ?? "none");
        return changes;
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first value out of range.</summary>
    public void Validate()
    {
        if (!Nn.ImageClassifiers.Names.Contains(Model) && !(Model == InitialModel.GraphArchitecture && InitFrom is not null))
        {
            throw new ArgumentException($"model must be {string.Join(" or ", Nn.ImageClassifiers.Names)} (or {InitialModel.GraphArchitecture} with a file to start from); got '{Model}'", nameof(Model));
        }
        if (Optimizer is not ("sgd" or "adam"))
        {
            throw new ArgumentException($"optimizer must be sgd or adam; got '{Optimizer}'", nameof(Optimizer));
        }
        if (Epochs < 1 || BatchSize < 1 || Shift < 0 || CropPadding < 0 || Seed < 0)
        {
            throw new ArgumentException($"epochs and batch size must be >= 1, shift, crop padding and seed >= 0; got {Epochs}, {BatchSize}, {Shift}, {CropPadding}, {Seed}", nameof(Epochs));
        }
        if (!(LearningRate > 0) || Momentum is < 0 or >= 1 || WeightDecay < 0 || Dropout is < 0 or >= 1)
        {
            throw new ArgumentException($"need lr > 0, momentum and dropout in [0, 1), weight decay >= 0; got {LearningRate}, {Momentum}, {Dropout}, {WeightDecay}", nameof(LearningRate));
        }
    }

    private static string I(int v) => v.ToString(CultureInfo.InvariantCulture);

    private static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>One option whose value differs between two runs.</summary>
/// <param name="Name">The option, as the command line names it (<c>epochs</c>, <c>lr</c>, ...).</param>
/// <param name="Old">Its value in the earlier run (the checkpoint's).</param>
/// <param name="New">Its value in this run.</param>
public readonly record struct OptionChange(string Name, string Old, string New)
{
    /// <summary><c>name old → new</c>.</summary>
    public override string ToString() => $"{Name} {Old} → {New}";
}
