using System.Diagnostics;
using System.Globalization;
using ConvGrad.Data;
using ConvGrad.Distributed;
using ConvGrad.Nn;
using ConvGrad.Optim;

namespace ConvGrad.Training;

/// <summary>
/// A training run of an image classifier, as <c>convgrad train</c> does it: builds the model and optimiser of a
/// <see cref="TrainingConfig"/>, then each <see cref="RunEpoch"/> trains one epoch (one-cycle schedule, randomness
/// keyed by sample), synchronises batch norm and evaluates over the ranks, and saves a checkpoint.
/// <see cref="Resume"/> continues from the last checkpoint, bitwise as if the run had never stopped, or extends a run by
/// more epochs (a new one-cycle over the added epochs). With an <see cref="InitialModel"/> the run fine-tunes: it starts
/// from saved weights with a fresh optimiser and schedule.
/// </summary>
/// <remarks>
/// Data parallel: with a <see cref="Communicator"/> of several ranks, every rank builds the same run; each trains its
/// shard of every batch and gradients are summed by a <see cref="GradientBucketer{T}"/> while backward runs.
/// Rank 0 writes the checkpoints and files.
/// </remarks>
public sealed class TrainingRun : IDisposable
{
    private readonly List<int> _cycles;
    private ClassifierTrainer _trainer;
    private readonly DataLoader _loader;
    private readonly List<double> _batchLosses = [];
    private readonly List<EpochResult> _epochs = [];
    private readonly bool _ownsCommunicator;

    /// <summary>Builds the model, optimiser and schedule of <paramref name="config"/>.</summary>
    /// <param name="config">The run's settings.</param>
    /// <param name="data">The training, held-out and validation sets.</param>
    /// <param name="checkpoints">Where to save a checkpoint after every epoch (and resume from), or null for none.</param>
    /// <param name="communicator">The ranks of a data-parallel run, or null for one process.</param>
    /// <param name="options">Engine, threads and device of the convolutions; null means <see cref="ConvOptions.Default"/>.</param>
    /// <param name="bucketBytes">The gradient bucket size of a data-parallel run.</param>
    /// <param name="initial">
    /// The weights to start from (fine-tuning; <paramref name="config"/>'s <see cref="TrainingConfig.InitFrom"/> names
    /// its file), or null for fresh weights from the seed. The run keeps the normalisation the weights were trained with
    /// (<see cref="InitialModel.Normalization"/>) when the file names one: <see cref="Data"/> then carries it.
    /// </param>
    /// <exception cref="ArgumentException">A config value out of range, or sets of different shapes.</exception>
    /// <exception cref="InvalidDataException">The initial model does not fit the config or the data (one line naming what the file holds and what was expected).</exception>
    public TrainingRun(TrainingConfig config, TrainingData data, CheckpointStore? checkpoints = null, Communicator? communicator = null,
        ConvOptions? options = null, long bucketBytes = GradientBucketer<float>.DefaultBucketBytes, InitialModel? initial = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(data);
        config.Validate();
        if (data.Test.Shape != data.Train.Shape || data.Validation is { } v && v.Shape != data.Train.Shape)
        {
            throw new ArgumentException($"the held-out and validation images must have the training images' shape {data.Train.Shape}; got {data.Test.Shape}", nameof(data));
        }
        if ((initial is null) != (config.InitFrom is null))
        {
            throw new ArgumentException(initial is null
                ? $"the config starts from {config.InitFrom} but no initial model is given"
                : $"an initial model ({initial.Source}) needs the config's InitFrom to name it", nameof(initial));
        }
        initial?.CheckFits(config, data);
        if (initial?.Normalization is { } trained)
        {
            data = data with { Normalization = trained };
        }
        _ownsCommunicator = communicator is null;
        Communicator = communicator ?? new SingleProcessCommunicator();
        Config = config;
        Data = data;
        Checkpoints = checkpoints;
        Initial = initial;
        Model = initial?.Build(config, options) ?? ImageClassifiers.Create(config.Model, new Random(config.Seed), data.Train.Shape, data.Train.Classes.Count, config.Dropout, options);
        var parameters = Model.Parameters().ToList();
        Optimizer = config.Optimizer == "sgd"
            ? new Sgd<float>(parameters, config.LearningRate, config.Momentum, config.WeightDecay, nesterov: true)
            : new Adam<float>(parameters, config.LearningRate, weightDecay: config.WeightDecay);
        _loader = new DataLoader(data.Train, config.BatchSize, data.Normalization, shuffle: true, seed: (ulong)config.Seed, Transforms(config), Communicator);
        BatchesPerEpoch = _loader.BatchesPerEpoch;
        _cycles = [config.Epochs];
        _trainer = new ClassifierTrainer(Model, Optimizer, Schedule(), config.Seed);
        Bucketer = Communicator.Size > 1
            ? new GradientBucketer<float>(Communicator, parameters.Select(p => (int)p.Value.Length).ToList(), bucketBytes, GradientReduction.Sum)
            : null;
    }

    /// <summary>The run's settings.</summary>
    public TrainingConfig Config { get; }

    /// <summary>The data, with the normalisation the run uses (an initial model's own, when it names one).</summary>
    public TrainingData Data { get; }

    /// <summary>Where checkpoints go, or null.</summary>
    public CheckpointStore? Checkpoints { get; }

    /// <summary>The ranks (one when not data parallel).</summary>
    public Communicator Communicator { get; }

    /// <summary>The model being trained.</summary>
    public Module<float> Model { get; }

    /// <summary>The weights the run started from (fine-tuning), or null for fresh weights.</summary>
    public InitialModel? Initial { get; }

    /// <summary>
    /// The epochs of each one-cycle of the learning-rate schedule: one cycle over <see cref="TrainingConfig.Epochs"/>,
    /// and after <see cref="Resume"/> extended a run, one more cycle per extension (<see cref="TrainingState.Cycles"/>).
    /// </summary>
    public IReadOnlyList<int> Cycles => _cycles;

    /// <summary>The optimiser.</summary>
    public Optimizer<float> Optimizer { get; }

    /// <summary>The gradient bucketer of a data-parallel run, or null.</summary>
    public GradientBucketer<float>? Bucketer { get; }

    /// <summary>Optimiser steps per epoch.</summary>
    public int BatchesPerEpoch { get; }

    /// <summary>The next epoch <see cref="RunEpoch"/> trains, 1-based (after a resume, the one after the checkpoint's).</summary>
    public int NextEpoch { get; private set; } = 1;

    /// <summary>Whether every epoch has been trained.</summary>
    public bool IsComplete => NextEpoch > Config.Epochs;

    /// <summary>
    /// Whether a non-finite loss, gradient or updated weight stops the run with <see cref="DivergenceException"/>
    /// before anything is saved (default true; <see cref="ClassifierTrainer.DivergenceGuard"/>).
    /// </summary>
    public bool DivergenceGuard
    {
        get => _trainer.DivergenceGuard;
        set => _trainer.DivergenceGuard = value;
    }

    /// <summary>Whether steps run in <see cref="Autograd.AnomalyMode"/>, so a divergence names the first operation that went non-finite (default false).</summary>
    public bool DetectAnomaly
    {
        get => _trainer.DetectAnomaly;
        set => _trainer.DetectAnomaly = value;
    }

    /// <summary>Where the training steps' time goes per operation kind, collected while set (<see cref="ClassifierTrainer.Profile"/>; default null).</summary>
    public StepProfile? Profile
    {
        get => _trainer.Profile;
        set => _trainer.Profile = value;
    }

    /// <summary>The loss of every batch so far (the checkpoint's too after a resume).</summary>
    public IReadOnlyList<double> BatchLosses => _batchLosses;

    /// <summary>Every completed epoch's results.</summary>
    public IReadOnlyList<EpochResult> Epochs => _epochs;

    /// <summary>The run's state as a checkpoint records it.</summary>
    public TrainingState State => new(Config, Data.Sizes, Communicator.Size, (long)(NextEpoch - 1) * BatchesPerEpoch, [.. _batchLosses], [.. _epochs])
    {
        Cycles = [.. _cycles],
    };

    /// <summary>
    /// Continues from the checkpoint in <see cref="Checkpoints"/>: loads the weights, the optimiser state and the
    /// history, so that the next <see cref="RunEpoch"/> is the one after the checkpoint's.
    /// <para>
    /// A config with more epochs than the checkpoint's run planned extends that run (finished or not): the schedule
    /// gets a new one-cycle over the added epochs, peaking at the same rate, after the cycles already planned, and the
    /// optimiser state (momentum, Adam's moments) carries on, as when fastai's <c>fit_one_cycle</c> is called again.
    /// The new cycle is recorded in the checkpoints, so an extended run stopped and resumed with the same epochs ends
    /// bitwise as an uninterrupted extension.
    /// </para>
    /// </summary>
    /// <exception cref="CheckpointException">
    /// No checkpoint, a corrupt one, one of another model, one made with other options (the message names each
    /// option that differs, with the checkpoint's and this run's values), or fewer epochs than the checkpoint's run
    /// planned (a run is extended, never shortened). Nothing is changed then.
    /// </exception>
    /// <exception cref="InvalidOperationException">No checkpoint store.</exception>
    public void Resume()
    {
        if (Checkpoints is null)
        {
            throw new InvalidOperationException("resuming needs a checkpoint store");
        }
        var stored = Checkpoints.Load(Model);
        var cycles = stored.State.CycleEpochs;
        int planned = stored.State.Config.Epochs;
        bool extends = Config.Epochs > planned;
        var differences = stored.State.Differences(State).Where(d => !(extends && d.Name == "epochs")).ToList();
        if (differences.Count > 0)
        {
            string hint = Config.Epochs < planned
                ? $"; a run can be extended with more epochs, not shortened below the {planned} it planned"
                : "; resume with the same options as the run it continues (more --epochs extend it)";
            throw new CheckpointException($"the checkpoint in {Checkpoints.Folder} was made with other options ({string.Join(", ", differences)}){hint}");
        }
        if (cycles.Sum() != planned || cycles.Any(c => c < 1))
        {
            throw new CheckpointException($"{Checkpoints.Folder}: corrupt checkpoint: its schedule's cycles [{string.Join(", ", cycles)}] do not add up to its {planned} epochs");
        }
        stored.Restore(Model, Optimizer);
        _cycles.Clear();
        _cycles.AddRange(cycles);
        if (extends)
        {
            _cycles.Add(Config.Epochs - planned);
        }
        _trainer = new ClassifierTrainer(Model, Optimizer, Schedule(), Config.Seed) { DivergenceGuard = _trainer.DivergenceGuard, DetectAnomaly = _trainer.DetectAnomaly, Profile = _trainer.Profile };
        NextEpoch = stored.Epoch + 1;
        _batchLosses.Clear();
        _batchLosses.AddRange(stored.State.BatchLosses);
        _epochs.Clear();
        _epochs.AddRange(stored.State.Epochs);
    }

    /// <summary>
    /// Trains epoch <see cref="NextEpoch"/>, synchronises batch norm over the ranks, evaluates on the held-out (and
    /// validation) set, and saves a checkpoint (rank 0); every rank returns the same results.
    /// </summary>
    /// <param name="progress">Called after every batch (progress bars), or null.</param>
    /// <exception cref="InvalidOperationException">Every epoch has been trained, or the loss is no longer finite.</exception>
    public EpochResult RunEpoch(Action<BatchProgress>? progress = null)
    {
        if (IsComplete)
        {
            throw new InvalidOperationException($"all {Config.Epochs} epochs are trained");
        }
        int epoch = NextEpoch;
        var clock = Stopwatch.StartNew();
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var losses = _trainer.TrainEpoch(_loader, epoch - 1, Bucketer, progress);
        double seconds = clock.Elapsed.TotalSeconds;
        double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        _batchLosses.AddRange(losses);
        BatchNormSync.Synchronize(Model, Communicator);
        var held = ShardedEvaluation.Evaluate(Model, Data.Test, Data.Normalization, Communicator);
        double validation = Data.Validation is null ? double.NaN : ShardedEvaluation.Evaluate(Model, Data.Validation, Data.Normalization, Communicator).Accuracy;
        var result = new EpochResult(epoch, losses.Average(), held.MeanLoss, held.Accuracy, validation, seconds) { CpuSeconds = cpuSeconds };
        _epochs.Add(result);
        NextEpoch++;
        if (Checkpoints is not null && Communicator.IsRoot)
        {
            Checkpoints.Save(epoch, Model, Optimizer, State);
        }
        Communicator.Barrier();
        return result;
    }

    /// <summary>
    /// Writes the trained weights as safetensors with PyTorch's names and layouts, and in its metadata the
    /// <see cref="ClassifierInfo"/> (architecture, input shape, class names, normalisation) that
    /// <see cref="Classifier.Load"/> reads back (rank 0; the others write nothing).
    /// </summary>
    /// <param name="path">The file to write.</param>
    /// <exception cref="InvalidOperationException">The model is a module graph (<see cref="InitialModel.GraphArchitecture"/>), which safetensors cannot rebuild: export it to ONNX.</exception>
    public void SaveModel(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Config.Model == InitialModel.GraphArchitecture)
        {
            throw new InvalidOperationException($"a module graph ({Initial?.Source}) is saved as ONNX, not as a safetensors classifier");
        }
        if (!Communicator.IsRoot)
        {
            return;
        }
        var info = new ClassifierInfo(Config.Model, Data.Train.Shape, Data.Train.Classes, Data.Normalization);
        Classifier.Save(path, Model, info, new Dictionary<string, string>
        {
            ["model"] = CheckpointName(Config.Model),
            ["dropout"] = Config.Model == "resnet" ? "0" : G(Config.Dropout),
            ["seed"] = Config.Seed.ToString(CultureInfo.InvariantCulture),
            ["held_out_accuracy"] = _epochs.Count > 0 ? G(_epochs[^1].TestAccuracy) : "NaN",
        });
    }

    /// <summary>
    /// Writes <c>training.csv</c> (one row per epoch) and <c>losses.csv</c> (every batch's loss, round-trip exact) into
    /// <paramref name="folder"/> (rank 0; the others write nothing).
    /// </summary>
    /// <param name="folder">The output folder.</param>
    public void SaveHistory(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (!Communicator.IsRoot)
        {
            return;
        }
        AtomicFile.WriteAllLines(Path.Combine(folder, "training.csv"), ["epoch,train_loss,held_out_loss,held_out_accuracy,validation_accuracy,seconds",
            .. _epochs.Select(r => string.Join(',', r.Epoch, G(r.TrainLoss), G(r.TestLoss), G(r.TestAccuracy), G(r.ValidationAccuracy), G(r.Seconds)))]);
        AtomicFile.WriteAllLines(Path.Combine(folder, "losses.csv"),
            ["step,loss", .. _batchLosses.Select((l, i) => string.Create(CultureInfo.InvariantCulture, $"{i},{l:R}"))]);
    }

    /// <summary>
    /// The learning rate of every step: one-cycle over each of <see cref="Cycles"/>' epochs in turn (a single
    /// <see cref="OneCycleSchedule"/> for a run never extended).
    /// </summary>
    private ILearningRateSchedule Schedule() => _cycles.Count == 1
        ? new OneCycleSchedule(Config.LearningRate, _cycles[0] * BatchesPerEpoch)
        : new SequentialSchedule(_cycles.Select(e => (e * BatchesPerEpoch, (ILearningRateSchedule)new OneCycleSchedule(Config.LearningRate, e * BatchesPerEpoch))));

    /// <summary>The name checkpoints of model <paramref name="model"/> are saved under (<c>convgrad-lenet</c>, <c>convgrad-resnet</c>).</summary>
    /// <param name="model">The model's name.</param>
    public static string CheckpointName(string model) => $"convgrad-{model}";

    /// <summary>Releases the gradient bucketer (a communicator passed in belongs to the caller and stays open).</summary>
    public void Dispose()
    {
        _loader.Dispose();
        Bucketer?.Dispose();
        if (_ownsCommunicator)
        {
            Communicator.Dispose();
        }
    }

    /// <summary>The training transforms of <paramref name="config"/>, in order: random crop, horizontal flip, shift (those that are on).</summary>
    /// <param name="config">The run's settings.</param>
    public static IReadOnlyList<IImageTransform> Transforms(TrainingConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var list = new List<IImageTransform>();
        if (config.CropPadding > 0)
        {
            list.Add(new RandomCrop(config.CropPadding));
        }
        if (config.HorizontalFlip)
        {
            list.Add(new RandomHorizontalFlip());
        }
        if (config.Shift > 0)
        {
            list.Add(new RandomShift(config.Shift));
        }
        return list;
    }

    private static string G(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}
