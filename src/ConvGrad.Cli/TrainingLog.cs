using System.Globalization;
using ConvGrad.Autograd;
using ConvGrad.Distributed;
using ConvGrad.Nn;
using ConvGrad.Training;

namespace ConvGrad.Cli;

/// <summary>The lines <c>convgrad train</c> prints about a run: what it trains (before), each epoch, and what it cost (after).</summary>
internal static class TrainingLog
{
    /// <summary>The <c>data:</c>, <c>images:</c>, <c>model:</c> and (data parallel) lines.</summary>
    public static void Header(TextWriter stdout, TrainingRun run, string dataNote, DeviceOption device, ConvOptions options, bool distributed, long bucketBytes)
    {
        var (c, data, comm) = (run.Config, run.Data, run.Communicator);
        stdout.WriteLine($"data: {dataNote}; training on {data.Train.Count}{(data.Validation is null ? "" : $", validating on {data.Validation.Count}")}, holding out {data.Test.Count}");
        stdout.WriteLine($"images: {data.Train.Shape}, {data.Train.Classes.Count} classes ({Classes(data.Train.Classes)}), normalised by {data.Normalization}" +
                         $"{(run.Initial?.Normalization is null ? "" : " (the initial model's)")}");
        string description = c.Model switch
        {
            "resnet" => "ResNet (3 stages x 2 basic blocks, 16/32/64 channels)",
            "lenet" => "LeNet-style CNN",
            _ => $"the module graph of {run.Initial!.Source} ({((Graph<float>)run.Model).Nodes.Count} nodes)",
        };
        stdout.WriteLine($"model: {description}, {run.Model.Parameters().Sum(p => p.Value.Length):N0} parameters{(c.Model is "resnet" or "lenet" ? " (docs/model.md)" : "")}; " +
                         $"{c.Optimizer} lr {F(c.LearningRate)} one-cycle, batch {c.BatchSize}, {c.Epochs} epoch{(c.Epochs == 1 ? "" : "s")}, {Augmentation(c)}" +
                         $"{(c.Model == "resnet" ? "" : $", dropout {F(c.Dropout)}")}, seed {c.Seed}, threads {options.EffectiveThreads}, " +
                         $"{(device.IsGpu ? $"device {device.Name}" : $"engine {options.Engine.ToString().ToLowerInvariant()}")}");
        if (distributed)
        {
            stdout.WriteLine($"data parallel: {comm.Description}, {options.EffectiveThreads} threads per rank, global batch {c.BatchSize} " +
                             $"({string.Join("/", Enumerable.Range(0, comm.Size).Select(r => Shard.Of(c.BatchSize, r, comm.Size).Count))} per rank), " +
                             $"{run.Bucketer?.BucketCount ?? 0} gradient buckets of <= {bucketBytes >> 10} KiB");
        }
    }

    /// <summary>One epoch's line: losses, accuracies, time and speed.</summary>
    public static string Epoch(EpochResult r, int epochs, int images) =>
        $"epoch {r.Epoch}/{epochs}  train loss {r.TrainLoss:F4}  held-out loss {r.TestLoss:F4}  held-out accuracy {100 * r.TestAccuracy:F2}%" +
        $"{(double.IsNaN(r.ValidationAccuracy) ? "" : $"  validation accuracy {100 * r.ValidationAccuracy:F2}%")}  " +
        $"{r.Seconds:F1} s  {images / r.Seconds:F0} images/s  (cpu {r.CpuSeconds:F1} s)";

    /// <summary>
    /// What the epochs trained here cost: the autograd's bookkeeping, the mean epoch, the step profile (<c>--profile</c>), with <paramref name="overheadRepeats"/>
    /// &gt; 0 (one process) the autograd's share of a step measured afresh (<see cref="AutogradOverhead"/>), and the gradient all-reduce.
    /// </summary>
    public static void Totals(TextWriter stdout, TrainingRun run, double seconds, int epochs, ConvOptions options, int overheadRepeats)
    {
        if (epochs > 0)
        {
            stdout.WriteLine($"autograd bookkeeping (graph walk, dispatch, gradient sums, releases): {TapeStatistics.BookkeepingSeconds:F2} s of {seconds:F1} s training " +
                             $"({100 * TapeStatistics.BookkeepingSeconds / seconds:F2}%), {TapeStatistics.Nodes / Math.Max(1, TapeStatistics.Passes)} nodes per step");
            stdout.WriteLine($"mean epoch time {seconds / epochs:F1} s ({run.Data.Train.Count * epochs / seconds:F0} images/s, {options.EffectiveThreads} threads" +
                             $"{(run.Communicator.Size > 1 ? $" per rank, {run.Communicator.Size} ranks" : "")})");
        }
        if (run.Profile is { Steps: > 0 } profile)
        {
            stdout.Write(profile.Format($"{run.Config.Model}, batch {run.Config.BatchSize}, {options.EffectiveThreads} threads"));
        }
        if (overheadRepeats > 0 && run.Communicator.Size == 1)
        {
            int batch = Math.Min(run.Config.BatchSize, run.Data.Train.Count);
            var o = AutogradOverhead.Measure(run.Model, run.Data, batch, overheadRepeats);
            stdout.WriteLine($"autograd overhead (batch {batch}, best of {overheadRepeats}): step {1e3 * o.StepSeconds:F2} ms (forward {1e3 * o.ForwardSeconds:F2} ms without recording), " +
                             $"recording {1e3 * o.RecordingSeconds:F3} ms + backward bookkeeping {1e3 * o.BookkeepingSeconds:F3} ms = {100 * o.Share:F2}% of the step, {o.Nodes} nodes");
        }
        if (run.Bucketer is { } bucketer)
        {
            var st = bucketer.Stats;
            stdout.WriteLine($"gradient all-reduce: {bucketer.BucketCount} buckets, {1e3 * st.InFlightSeconds / Math.Max(1, st.Steps):F2} ms in flight and " +
                             $"{1e3 * st.WaitSecondsPerStep:F2} ms waited per step (rank 0), {100 * st.HiddenShare:F1}% hidden");
        }
    }

    /// <summary><c>one-cycle over epochs 1-2, then over epoch 3</c>.</summary>
    public static string Cycles(IReadOnlyList<int> cycles)
    {
        var parts = new List<string>();
        int first = 1;
        foreach (int c in cycles)
        {
            parts.Add(c == 1 ? $"epoch {first}" : $"epochs {first}-{first + c - 1}");
            first += c;
        }
        return $"one-cycle over {string.Join(", then over ", parts)}";
    }

    private static string Augmentation(TrainingConfig c) => string.Join(", ", new[]
    {
        c.CropPadding > 0 ? $"random crops (padding {c.CropPadding})" : null,
        c.HorizontalFlip ? "horizontal flips" : null,
        $"shifts ±{c.Shift} px",
    }.Where(a => a is not null));

    private static string Classes(IReadOnlyList<string> names) => names.Count <= 12 ? string.Join(", ", names) : $"{string.Join(", ", names.Take(10))}, ... {names[^1]}";

    private static string F(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}
