using System.CommandLine;
using ConvGrad.Autograd;
using ConvGrad.Distributed;
using ConvGrad.Training;
using ConvGrad.Vision;

namespace ConvGrad.Cli;

/// <summary><c>convgrad train</c>: trains an image classifier (the ResNet by default, or LeNet) on IDX files or image folders, saves weights and a plot, ends with the held-out accuracy.</summary>
/// <remarks>The run itself is the library's <see cref="TrainingRun"/>; this command reads the options (<see cref="TrainOptions"/>) and prints.</remarks>
internal sealed class TrainCommand : CliCommand
{
    private readonly TrainOptions _o = new();

    /// <summary>Declares <c>train</c> and its options.</summary>
    public TrainCommand()
    {
        Declaration = new Command("train", """
            train a CNN image classifier (on the bundled 10,000 MNIST digits by default)

            Trains a small ResNet (the default) or a LeNet-style CNN with a hidden layer (docs/model.md has their PyTorch
            twins), with softmax cross-entropy, autograd and a one-cycle learning-rate schedule, for the data's channels,
            size and classes. With the bundled digits (data/mnist-10k) the first 8,000 train and the last 2,000 are held out.
            --data DIR takes IDX files (the official MNIST train-/t10k- files: their 60,000/10,000 split; EMNIST-style
            PREFIX-train-/PREFIX-test- files; class names from classes.txt beside them) or image folders (docs/data.md):
            DIR/<class>/ of PNG or JPEG files split 4:1 by file name, or DIR/train/<class>/ with DIR/test/ (or val/) held
            out; a bad image file is skipped with a warning naming it. Inputs are normalised by the training images'
            per-channel mean and std (MNIST's own files: MNIST's 0.1307/0.3081). Writes DIR/MODEL.safetensors (PyTorch
            names and layouts), DIR/training.png and DIR/training.csv; the last line is 'held-out accuracy: NN.NN%'.
            In a terminal each epoch shows a live bar (batches, loss, images/s) on stderr.
            """);
        foreach (var option in _o.All)
        {
            Declaration.Options.Add(option);
        }
    }

    public override Command Declaration { get; }

    public override int Run(ParseResult args, TextWriter stdout, TextWriter stderr)
    {
        var device = DeviceOption.Parse(args, _o.Device);
        bool distributed = args.GetValue(_o.Distributed);
        // Communicator.Create throws MpiUnavailableException (one line, exit 2) when --distributed lacks an mpirun launch.
        using var comm = Communicator.Create(distributed);
        double timeoutSeconds = args.GetValue(_o.CollectiveTimeout);
        comm.CollectiveTimeout = timeoutSeconds > 0 ? TimeSpan.FromSeconds(timeoutSeconds) : Timeout.InfiniteTimeSpan;
        try
        {
            return comm.IsRoot ? Train(args, device, comm, stdout, stderr) : Train(args, device, comm, TextWriter.Null, TextWriter.Null);
        }
        catch (DivergenceException e) when (comm.Size == 1)
        {
            // A failed run, not bad usage: one line, exit 1; the last checkpoint is the last good state.
            stderr.WriteLine($"convgrad train: {e.Message}");
            return 1;
        }
        catch (Exception e) when (comm.Size > 1 && e is not OutOfMemoryException)
        {
            // One rank failing (its data, its disk) ends the whole job with its message instead of leaving the others waiting in a collective.
            Console.Error.WriteLine($"convgrad train: rank {comm.Rank}: {e.Message.ReplaceLineEndings(" ")}");
            if (e is CollectiveTimeoutException)
            {
                // Every rank of the collective times out on its own (as each PyTorch process's watchdog does), so this
                // rank just ends, without another MPI call on a collective left unfinished; mpirun sees the non-zero
                // exit and ends the job (docs/distributed.md, "When the network fails").
                Console.Error.Flush();
                Environment.Exit(1);
            }
            comm.Abort(e is UsageException or ArgumentException or IOException or InvalidDataException or NotSupportedException ? ExitCodes.BadUsage : 1);
            throw;
        }
    }

    private int Train(ParseResult args, DeviceOption device, Communicator comm, TextWriter stdout, TextWriter stderr)
    {
        int threads = args.GetValue(_o.Threads);
        bool distributed = args.GetValue(_o.Distributed), resume = args.GetValue(_o.Resume);
        if (threads == 0 && distributed && MpiLaunch.FromEnvironment() is { } launch)
        {
            threads = launch.ThreadsPerRank(Environment.ProcessorCount);
        }
        var split = DataFolder.Load(_o.DataFolder(args), _o.ImageFolder(args), w => stderr.WriteLine($"warning: {w}"));
        int held = args.GetValue(_o.Validation);
        var data = held < split.Train.Count ? TrainingData.FromSplit(split, held, args.GetValue(_o.TrainLimit))
            : throw new UsageException($"--validation {held} must be smaller than the {split.Train.Count} training images");
        string outDir = args.GetValue(_o.Out) ?? Path.Combine(RepoPaths.Root() ?? Directory.GetCurrentDirectory(), "out");
        Directory.CreateDirectory(outDir);

        // Data parallel on GPUs: each rank takes the device of its local rank (modulo the machine's device count).
        int deviceIndex = device.IsGpu ? device.IndexFor(comm) : 0;
        using var gpu = device.Open(deviceIndex);
        var options = DeviceOption.Options(gpu, new ConvOptions { Threads = threads });
        var (initial, onnx) = ModelFiles.LoadInitial(_o.InitFromPath(args), options);
        var config = _o.Config(args, initial);
        long bucketBytes = args.GetValue(_o.BucketBytes);
        using var run = new TrainingRun(config, data, new CheckpointStore(outDir, TrainingRun.CheckpointName(config.Model)) { Warning = w => stderr.WriteLine($"warning: {w}") }, comm, options, bucketBytes, initial)
        {
            DivergenceGuard = !args.GetValue(_o.AllowNonFinite),
            DetectAnomaly = args.GetValue(_o.DetectAnomaly),
            Profile = args.GetValue(_o.Profile) ? new StepProfile() : null,
        };
        if (resume)
        {
            run.Resume();
        }

        TrainingLog.Header(stdout, run, split.Note, device, options, distributed, bucketBytes);
        if (distributed && gpu is not null)
        {
            stdout.WriteLine($"devices: {device.PerRank(comm, deviceIndex)}");
        }
        if (initial is not null)
        {
            stdout.WriteLine($"fine-tuning from {initial.Source}: its weights, a fresh optimiser and a fresh one-cycle schedule");
        }
        if (resume)
        {
            stdout.WriteLine($"resuming from {outDir} after epoch {run.NextEpoch - 1}");
        }
        if (run.Cycles.Count > 1)
        {
            stdout.WriteLine($"schedule: {TrainingLog.Cycles(run.Cycles)} (each extension adds a cycle)");
        }

        var progress = TrainingProgress.ForTerminal(stderr);
        double totalSeconds = 0;
        int trainedEpochs = 0, stopAfter = args.GetValue(_o.StopAfterEpoch);
        TapeStatistics.Reset();
        while (!run.IsComplete)
        {
            var r = progress is null ? run.RunEpoch() : progress.Epoch(run.NextEpoch, config.Epochs, run.RunEpoch);
            totalSeconds += r.Seconds;
            trainedEpochs++;
            stdout.WriteLine(TrainingLog.Epoch(r, config.Epochs, data.Train.Count));
            if (r.Epoch == stopAfter && !run.IsComplete)
            {
                stdout.WriteLine($"stopped after epoch {r.Epoch} (--stop-after-epoch); continue with --resume");
                return ExitCodes.Success;
            }
        }

        string weights = ModelFiles.SaveTrained(run, onnx, outDir), csv = Path.Combine(outDir, "training.csv"), png = Path.Combine(outDir, "training.png");
        run.SaveHistory(outDir);
        if (comm.IsRoot)
        {
            TrainingPlot.Save(png, run.BatchLosses, run.BatchesPerEpoch, run.Epochs.Select(r => (r.Epoch, r.TestLoss, r.TestAccuracy, r.ValidationAccuracy)).ToList());
        }
        TrainingLog.Totals(stdout, run, totalSeconds, trainedEpochs, options, args.GetValue(_o.AutogradOverhead));
        stdout.WriteLine($"saved {weights}, {png}, {csv}");
        stdout.WriteLine($"held-out accuracy: {100 * run.Epochs[^1].TestAccuracy:F2}%");
        return ExitCodes.Success;
    }
}
