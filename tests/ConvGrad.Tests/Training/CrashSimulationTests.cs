using System.Globalization;
using System.Security.Cryptography;
using ConvGrad.Data;
using ConvGrad.Training;
using Xunit.Abstractions;

namespace ConvGrad.Tests.Training;

/// <summary>
/// A small LeNet run in-process on a <see cref="SimulatedDisk"/>, crashed at every writing operation of its checkpoints
/// (a kill, and a power cut that keeps only what was fsynced), then resumed as <c>train --resume</c> would: with the
/// real writer every crash ends bitwise equal to the uninterrupted run; without the writer's fsync (power cut) or
/// without its rename (kill) some crash ends in an unusable checkpoint or other weights, and the check says which.
/// SIGKILL alone cannot show a missing fsync (the page cache survives the process), hence the simulated power cut.
/// </summary>
public sealed class CrashSimulationTests(ITestOutputHelper output)
{
    /// <summary>3 epochs of 2 steps (64 digits, batch 32), 32 held out: each crash is a run of a fraction of a second.</summary>
    private static readonly TrainingConfig Config = new() { Model = "lenet", Epochs = 3, BatchSize = 32, LearningRate = 0.02, Seed = 5 };

    private static readonly string Folder = Path.Combine(Path.GetTempPath(), "convgrad-simulated-disk", "run");

    private static readonly Lazy<Outcome> Reference = new(() => Train(new SimulatedDisk()));

    private static TrainingData Data() => new(TestDigits.All.Slice(0, 64), TestDigits.All.Slice(8000, 32), Normalization.Mnist);

    /// <summary>What a run ends with: its weights' SHA-256, every step's loss and every epoch's results (less their times), and its operations.</summary>
    private sealed record Outcome(string Weights, string Losses, string History, long Operations, List<string> Warnings);

    /// <summary>Trains to the end on <paramref name="disk"/>, resuming from its checkpoint if it has one.</summary>
    private static Outcome Train(SimulatedDisk disk)
    {
        var warnings = new List<string>();
        var store = new CheckpointStore(Folder, TrainingRun.CheckpointName(Config.Model)) { Files = disk, Warning = warnings.Add };
        using var run = new TrainingRun(Config, Data(), store, options: new ConvOptions { Threads = 1 });
        if (store.Exists)
        {
            run.Resume();
        }
        while (!run.IsComplete)
        {
            run.RunEpoch();
        }
        var inv = CultureInfo.InvariantCulture;
        return new Outcome(
            Convert.ToHexString(SHA256.HashData(run.Model.State().SelectMany(t => t.Data).ToArray())),
            string.Join(",", run.BatchLosses.Select(l => l.ToString("R", inv))),
            string.Join("\n", run.Epochs.Select(e => string.Create(inv, $"{e.Epoch},{e.TrainLoss:R},{e.TestLoss:R},{e.TestAccuracy:R},{e.ValidationAccuracy:R}"))),
            disk.Operations,
            warnings);
    }

    /// <summary>Crashes a fresh run at operation <paramref name="at"/>, then resumes it: null if it ends as the reference does, else what went wrong.</summary>
    private static string? Trial(long at, bool powerCut, bool skipFileSync = false, bool writeInPlace = false)
    {
        var disk = new SimulatedDisk { CrashAt = at, SkipFileSync = skipFileSync, WriteInPlace = writeInPlace };
        Assert.Throws<SimulatedCrash>(() => Train(disk));
        if (powerCut)
        {
            disk.PowerCut();
        }
        else
        {
            disk.Kill();
        }
        Outcome resumed;
        try
        {
            resumed = Train(disk);
        }
        catch (CheckpointException e)
        {
            return $"crash at operation {at}: --resume fails: {e.Message}";
        }
        var reference = Reference.Value;
        return resumed.Weights != reference.Weights ? $"crash at operation {at}: other weights"
            : resumed.Losses != reference.Losses || resumed.History != reference.History ? $"crash at operation {at}: another history"
            : null;
    }

    /// <summary>Every writing operation of the uninterrupted run (all its checkpoint saves).</summary>
    private static IEnumerable<long> EveryOperation() => Enumerable.Range(1, (int)Reference.Value.Operations).Select(i => (long)i);

    [Fact]
    public void TheRealWriter_SurvivesAKillOrAPowerCutAtEveryOperation_Bitwise()
    {
        // 3 saves: tensor file and manifest, each create, fsync, rename, fsync of the folder; then the deletions.
        Assert.InRange(Reference.Value.Operations, 24, 40);
        var failures = EveryOperation().SelectMany(at => new[] { Trial(at, powerCut: false), Trial(at, powerCut: true) }).OfType<string>().ToList();
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void AWriterWithoutFsync_LosesTheCheckpointInAPowerCut()
    {
        // The manifest's name reaches the disk (the folder is synced) but its bytes never do: an empty manifest.
        string? failure = EveryOperation().Select(at => Trial(at, powerCut: true, skipFileSync: true)).FirstOrDefault(f => f is not null);
        output.WriteLine(failure ?? "no failure");
        Assert.NotNull(failure);
        Assert.Contains("--resume fails", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void AWriterWithoutRename_LeavesATornManifestWhenKilled()
    {
        // Killed half-way through writing the manifest in place: neither the old one nor the new.
        string? failure = EveryOperation().Select(at => Trial(at, powerCut: false, writeInPlace: true)).FirstOrDefault(f => f is not null);
        output.WriteLine(failure ?? "no failure");
        Assert.NotNull(failure);
        Assert.Contains("corrupt checkpoint: the manifest is not valid JSON", failure, StringComparison.Ordinal);
    }
}
