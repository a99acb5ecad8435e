using ConvGrad.Data;
using ConvGrad.Nn;
using ConvGrad.Optim;
using ConvGrad.Training;

namespace ConvGrad.Tests.Training;

/// <summary>The typed state of a training checkpoint: it reads back bitwise, and a differing config is named option by option.</summary>
public sealed class CheckpointStoreTests : IDisposable
{
    private readonly DirectoryInfo _dir = Cli.TempDir();

    public void Dispose() => _dir.Delete(recursive: true);

    private static TrainingState State(TrainingConfig config) => new(config, new DataSizes(512, 2000, 0), 2, 16,
        [2.302585092994046, 1e-300, double.Epsilon, 0.1 + 0.2],
        [new EpochResult(1, 1.5, 0.75, 0.8125, double.NaN, 3.25) { CpuSeconds = 6.5 }]);

    [Fact]
    public void SavedState_ReadsBackBitwise_WithTheWeightsAndOptimizerState()
    {
        var model = LeNet.Create<float>(new Random(3));
        var sgd = new Sgd<float>(model.Parameters(), 0.1, momentum: 0.9);
        var config = new TrainingConfig { Model = "lenet", Epochs = 3, LearningRate = 0.02, Seed = 7 };
        var store = new CheckpointStore(_dir.FullName, "convgrad-lenet");
        store.Save(1, model, sgd, State(config));

        var other = LeNet.Create<float>(new Random(4));
        var stored = store.Load(other);
        Assert.Equal(1, stored.Epoch);
        Assert.Equal(config, stored.State.Config);
        Assert.Equal(new DataSizes(512, 2000, 0), stored.State.Data);
        Assert.Equal(State(config).BatchLosses.Select(BitConverter.DoubleToInt64Bits), stored.State.BatchLosses.Select(BitConverter.DoubleToInt64Bits));
        Assert.Equal(State(config).Epochs, stored.State.Epochs);
        Assert.True(double.IsNaN(stored.State.Epochs[0].ValidationAccuracy));
        stored.Restore(other, new Sgd<float>(other.Parameters(), 0.1, momentum: 0.9));
        Assert.Equal(model.Parameters().SelectMany(p => p.Value.ToArray()), other.Parameters().SelectMany(p => p.Value.ToArray()));
    }

    [Fact]
    public void TheScheduleCycles_ReadBack_AndAnOlderCheckpointHasOneCycle()
    {
        var model = LeNet.Create<float>(new Random(3));
        var sgd = new Sgd<float>(model.Parameters(), 0.1);
        var store = new CheckpointStore(_dir.FullName, "convgrad-lenet");
        var config = new TrainingConfig { Model = "lenet", Epochs = 5, InitFrom = "/models/lenet.safetensors" };
        store.Save(4, model, sgd, State(config) with { Cycles = [2, 3] });
        var stored = store.Load(model).State;
        Assert.Equal([2, 3], stored.CycleEpochs);
        Assert.Equal("/models/lenet.safetensors", stored.Config.InitFrom);
        store.Save(4, model, sgd, State(config));
        Assert.Null(store.Load(model).State.Cycles);
        Assert.Equal([5], store.Load(model).State.CycleEpochs);
    }

    [Fact]
    public void Differences_NameEachChangedOption_WithOldAndNewValues()
    {
        var a = State(new TrainingConfig { Model = "lenet", Epochs = 3, LearningRate = 0.02 });
        var b = State(new TrainingConfig { Model = "lenet", Epochs = 4, LearningRate = 0.05 }) with { Data = new DataSizes(500, 2000, 12), Ranks = 1 };
        Assert.Empty(a.Differences(a with { Ranks = 1, BatchLosses = [] }));
        Assert.Equal(
            ["epochs 3 → 4", "lr 0.02 → 0.05", "train images 512 → 500", "validation images 0 → 12"],
            a.Differences(b).Select(d => d.ToString()));
    }

    [Fact]
    public void ACheckpointWithoutTrainingState_IsRefusedInOneLine()
    {
        var model = LeNet.Create<float>(new Random(3));
        new Checkpoint("convgrad-lenet", 1, model.State(), [], [1]).Save(_dir.FullName);
        var e = Assert.Throws<CheckpointException>(() => new CheckpointStore(_dir.FullName, "convgrad-lenet").Load(model));
        Assert.Contains("no training state", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }
}
