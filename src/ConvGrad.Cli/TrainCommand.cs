using System.Diagnostics;
using System.Globalization;
using ConvGrad.Autograd;
using ConvGrad.Data;
using ConvGrad.Nn;
using ConvGrad.Optim;

namespace ConvGrad.Cli;

/// <summary><c>convgrad train</c>: trains the LeNet-style digit classifier, saves weights and a plot, ends with the held-out accuracy.</summary>
internal sealed class TrainCommand : ICommand
{
    public string Name => "train";
    public string Summary => "train a CNN on MNIST digits (bundled 10,000 by default)";
    public string Usage => """
        usage: convgrad train [--model lenet|resnet] [--epochs N] [--batch-size N] [--lr X] [--optimizer sgd|adam] [--seed N]
                              [--threads N] [--data DIR] [--out DIR] [--validation N] [--train-limit N]
                              [--dropout P] [--shift PX] [--momentum M] [--weight-decay W]
                              [--device cpu|cuda|ilgpu-cpu]

        Trains a LeNet-style CNN with a hidden layer, or a small ResNet (docs/model.md has their PyTorch
        twins), with softmax cross-entropy, autograd and a one-cycle learning-rate schedule. With the bundled digits (data/mnist-10k)
        the first 8,000 train and the last 2,000 are held out; with --data DIR holding the official MNIST files
        (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,
        plain or .gz) the official 60,000/10,000 split is used. Writes DIR/MODEL.safetensors (PyTorch names and
        layouts), DIR/training.png and DIR/training.csv; the last line is 'held-out accuracy: NN.NN%'.

          --model         lenet (default) or resnet (3 stages x 2 basic blocks, 16/32/64 channels)

          --epochs        passes over the training digits (default 8)
          --batch-size    digits per step (default 64)
          --optimizer     sgd (momentum, Nesterov) or adam (default sgd)
          --lr            peak learning rate of the one-cycle schedule (default 0.1 sgd, 0.003 adam)
          --momentum      SGD momentum (default 0.9)
          --weight-decay  L2 weight decay (default 5e-4)
          --dropout       dropout before LeNet's last layer (default 0.25; the ResNet has none)
          --shift         random shifts of up to PX pixels on training digits (default 2; 0 = off)
          --seed          initial weights, shuffling, shifts and dropout (default 1)
          --threads       worker threads of the convolutions (default: one per processor)
          --data          folder with MNIST IDX files (default: the bundled data/mnist-10k)
          --out           output folder (default: out/ at the repository root, git-ignored)
          --validation    train on all but the last N training digits and report accuracy on those N
                          (for tuning; the held-out digits stay untouched)
          --train-limit   train on only the first N training digits (quick runs)
          {device}
        """.Replace("{device}", DeviceOption.Usage, StringComparison.Ordinal);

    public IReadOnlySet<string> Flags { get; } = new HashSet<string>();

    public int Run(Args args, TextWriter stdout, TextWriter stderr)
    {
        string modelName = args.Option("model", "lenet");
        if (!DigitModels.Names.Contains(modelName))
        {
            throw new UsageException($"--model must be {string.Join(" or ", DigitModels.Names)}; got '{modelName}'");
        }
        bool resnet = modelName == "resnet";
        int epochs = args.Int("epochs", resnet ? ResNetEpochs : 8, 1, 10_000);
        int batch = args.Int("batch-size", 64, 1, 65_536);
        string opt = args.Option("optimizer", "sgd");
        if (opt is not ("sgd" or "adam"))
        {
            throw new UsageException($"--optimizer must be sgd or adam; got '{opt}'");
        }
        double lr = args.Double("lr", opt == "sgd" ? 0.1 : 0.003, 1e-9, 10);
        double momentum = args.Double("momentum", 0.9, 0, 0.999);
        double wd = args.Double("weight-decay", 5e-4, 0, 1);
        double dropout = args.Double("dropout", 0.25, 0, 0.95);
        int shift = args.Int("shift", 2, 0, 8);
        int seed = args.Int("seed", 1, 0, int.MaxValue - 1);
        int threads = args.Int("threads", 0, 0, 1024);
        string? dataDir = args.Option("data");
        string? outDir = args.Option("out");
        int validation = args.Int("validation", 0, 0, int.MaxValue);
        int limit = args.Int("train-limit", 0, 0, int.MaxValue);
        var device = DeviceOption.Parse(args);
        args.EnsureAllUsed();

        var (train, test, dataNote) = LoadData(dataDir);
        MnistSet? val = null;
        if (validation > 0)
        {
            if (validation >= train.Count)
            {
                throw new UsageException($"--validation {validation} must be smaller than the {train.Count} training digits");
            }
            val = train.Slice(train.Count - validation, validation);
            train = train.Slice(0, train.Count - validation);
        }
        if (limit > 0 && limit < train.Count)
        {
            train = train.Slice(0, limit);
        }
        if (train.Rows != 28 || train.Cols != 28)
        {
            throw new InvalidDataException($"the model needs 28x28 digits; the data has {train.Rows}x{train.Cols}");
        }
        outDir ??= DefaultOutDir();
        Directory.CreateDirectory(outDir);

        using var gpu = device.Open();
        var options = DeviceOption.Options(gpu, new ConvOptions { Threads = threads });
        var rng = new Random(seed);
        var model = DigitModels.Create(modelName, rng, dropout, options);
        var parameters = model.Parameters().ToList();
        Optimizer<float> optimizer = opt == "sgd"
            ? new Sgd<float>(parameters, lr, momentum, wd, nesterov: true)
            : new Adam<float>(parameters, lr, weightDecay: wd);
        int steps = epochs * ClassifierTrainer<float>.BatchesPerEpoch(train.Count, batch);
        var schedule = new OneCycleSchedule(lr, steps);
        var trainer = new ClassifierTrainer<float>(model, optimizer, schedule, batch, seed, shift);

        stdout.WriteLine($"data: {dataNote}; training on {train.Count}{(val is null ? "" : $", validating on {val.Count}")}, holding out {test.Count}");
        string description = resnet ? "ResNet (3 stages x 2 basic blocks, 16/32/64 channels)" : "LeNet-style CNN";
        stdout.WriteLine($"model: {description}, {parameters.Sum(p => p.Value.Length):N0} parameters (docs/model.md); " +
                         $"{opt} lr {F(lr)} one-cycle, batch {batch}, {epochs} epochs, shifts ±{shift} px{(resnet ? "" : $", dropout {F(dropout)}")}, seed {seed}, " +
                         $"threads {options.EffectiveThreads}, {(device.IsGpu ? $"device {device.Name}" : $"engine {options.Engine.ToString().ToLowerInvariant()}")}");

        var bar = stderr == Console.Error && !Console.IsErrorRedirected ? new ProgressBar(stderr) : null;
        var batchLosses = new List<double>();
        var epochRows = new List<(int Epoch, double TrainLoss, double TestLoss, double TestAcc, double ValAcc, double Seconds)>();
        double totalSeconds = 0;
        TapeStatistics.Reset();
        for (int e = 1; e <= epochs; e++)
        {
            var sw = Stopwatch.StartNew();
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            bar?.Start(e, epochs);
            var losses = trainer.TrainEpoch(train, p => bar?.Update(p, sw.Elapsed.TotalSeconds));
            double seconds = sw.Elapsed.TotalSeconds;
            // CPU time shows the work done independently of other load on a shared machine.
            double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            totalSeconds += seconds;
            bar?.Finish();
            batchLosses.AddRange(losses);
            var (testLoss, testAcc) = ClassifierTrainer<float>.Evaluate(model, test);
            double valAcc = double.NaN;
            string valNote = "";
            if (val is not null)
            {
                valAcc = ClassifierTrainer<float>.Evaluate(model, val).Accuracy;
                valNote = $"  validation accuracy {100 * valAcc:F2}%";
            }
            double trainLoss = losses.Average();
            epochRows.Add((e, trainLoss, testLoss, testAcc, valAcc, seconds));
            stdout.WriteLine($"epoch {e}/{epochs}  train loss {trainLoss:F4}  held-out loss {testLoss:F4}  held-out accuracy {100 * testAcc:F2}%{valNote}  " +
                             $"{seconds:F1} s  {train.Count / seconds:F0} images/s  (cpu {cpuSeconds:F1} s)");
        }

        string weights = Path.Combine(outDir, $"{modelName}.safetensors");
        SafeTensorsFile.Write(weights, model.State(), new Dictionary<string, string>
        {
            ["model"] = $"convgrad-{modelName}",
            ["dropout"] = resnet ? "0" : F(dropout),
            ["seed"] = seed.ToString(CultureInfo.InvariantCulture),
            ["held_out_accuracy"] = F(epochRows[^1].TestAcc),
        });
        string csv = Path.Combine(outDir, "training.csv");
        File.WriteAllLines(csv, ["epoch,train_loss,held_out_loss,held_out_accuracy,validation_accuracy,seconds",
            .. epochRows.Select(r => string.Join(',', r.Epoch, F(r.TrainLoss), F(r.TestLoss), F(r.TestAcc), F(r.ValAcc), F(r.Seconds)))]);
        string png = Path.Combine(outDir, "training.png");
        TrainingPlot.Save(png, batchLosses, ClassifierTrainer<float>.BatchesPerEpoch(train.Count, batch),
            epochRows.Select(r => (r.Epoch, r.TestLoss, r.TestAcc, r.ValAcc)).ToList());
        stdout.WriteLine($"autograd bookkeeping (graph walk, dispatch, gradient sums, releases): {TapeStatistics.BookkeepingSeconds:F2} s of {totalSeconds:F1} s training " +
                         $"({100 * TapeStatistics.BookkeepingSeconds / totalSeconds:F2}%), {TapeStatistics.Nodes / Math.Max(1, TapeStatistics.Passes)} nodes per step");
        stdout.WriteLine($"mean epoch time {totalSeconds / epochs:F1} s ({train.Count * epochs / totalSeconds:F0} images/s, {options.EffectiveThreads} threads)");
        stdout.WriteLine($"saved {weights}, {png}, {csv}");
        stdout.WriteLine($"held-out accuracy: {100 * epochRows[^1].TestAcc:F2}%");
        return ExitCodes.Success;
    }

    /// <summary>The ResNet's default epochs (LeNet's is 8).</summary>
    private const int ResNetEpochs = 8;

    private static string F(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    private static (MnistSet Train, MnistSet Test, string Note) LoadData(string? dir)
    {
        if (dir is null)
        {
            dir = RepoPaths.BundledData() ?? throw new UsageException("cannot find the bundled digits (data/mnist-10k); pass --data DIR");
        }
        else if (!Directory.Exists(dir))
        {
            throw new UsageException($"--data: no such folder: {dir}");
        }
        if (MnistFiles.IsBundled(dir))
        {
            var all = MnistFiles.LoadBundled(dir);
            if (all.Count < 10)
            {
                throw new InvalidDataException($"{dir}: only {all.Count} digits");
            }
            int trainCount = all.Count * 4 / 5;
            return (all.Slice(0, trainCount), all.Slice(trainCount, all.Count - trainCount),
                $"{dir} ({all.Count} digits: first {trainCount} train, last {all.Count - trainCount} held out)");
        }
        var (train, test) = MnistFiles.LoadOfficial(dir);
        return (train, test, $"{dir} (official split: {train.Count} train, {test.Count} test)");
    }

    private static string DefaultOutDir() => Path.Combine(RepoPaths.Root() ?? Directory.GetCurrentDirectory(), "out");
}

/// <summary>Finds the repository's bundled files from the working directory or the binaries.</summary>
internal static class RepoPaths
{
    public static string? Root()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "ConvGrad.slnx")))
                {
                    return d.FullName;
                }
            }
        }
        return null;
    }

    public static string? BundledData()
    {
        string? root = Root();
        string? dir = root is null ? null : Path.Combine(root, "data", "mnist-10k");
        return dir is not null && Directory.Exists(dir) ? dir : null;
    }
}

/// <summary>A one-line progress bar (batches, loss, throughput, ETA) redrawn with a carriage return.</summary>
internal sealed class ProgressBar(TextWriter w)
{
    private int _epoch, _epochs;
    private double _lastDraw = -1;
    private double _smoothed = double.NaN;

    public void Start(int epoch, int epochs)
    {
        _epoch = epoch;
        _epochs = epochs;
        _lastDraw = -1;
        _smoothed = double.NaN;
    }

    public void Update(BatchProgress p, double seconds)
    {
        _smoothed = double.IsNaN(_smoothed) ? p.Loss : 0.9 * _smoothed + 0.1 * p.Loss;
        if (seconds - _lastDraw < 0.1 && p.Batch != p.Batches)
        {
            return;
        }
        _lastDraw = seconds;
        const int width = 30;
        int filled = (int)((long)width * p.Batch / p.Batches);
        double rate = p.Images / Math.Max(seconds, 1e-9);
        double eta = seconds / p.Batch * (p.Batches - p.Batch);
        w.Write($"\repoch {_epoch}/{_epochs} [{new string('#', filled)}{new string('.', width - filled)}] {p.Batch}/{p.Batches}  loss {_smoothed:F4}  {rate:F0} img/s  ETA {eta:F0} s   ");
    }

    public void Finish() => w.Write("\r" + new string(' ', 110) + "\r");
}
