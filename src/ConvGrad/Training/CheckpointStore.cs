using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using ConvGrad.Data;
using ConvGrad.Nn;
using ConvGrad.Optim;

namespace ConvGrad.Training;

/// <summary>
/// The checkpoints of a training run in one folder: after each epoch <see cref="Save"/> writes the model, the optimiser
/// and the run's typed <see cref="TrainingState"/> (crash-safely, through <see cref="Checkpoint"/>), and
/// <see cref="Load"/> reads the last one back, checked, without changing anything.
/// </summary>
/// <remarks>
/// The state is kept as a JSON object (<c>details</c>) in the manifest <c>checkpoint.json</c>, so it can be read
/// there; doubles are written shortest-round-trip, so losses read back bitwise.
/// </remarks>
public sealed class CheckpointStore
{
    /// <summary>A store in <paramref name="folder"/> for checkpoints of the model named <paramref name="modelName"/>.</summary>
    /// <param name="folder">The run's output folder.</param>
    /// <param name="modelName">The model's name (e.g. <c>convgrad-lenet</c>); a checkpoint of another name is refused.</param>
    public CheckpointStore(string folder, string modelName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelName);
        Folder = folder;
        ModelName = modelName;
    }

    /// <summary>The folder.</summary>
    public string Folder { get; }

    /// <summary>The model's name.</summary>
    public string ModelName { get; }

    /// <summary>
    /// Told, in one line, when <see cref="Load"/> finds the newest checkpoint corrupt and loads the previous one
    /// instead (<c>convgrad train</c> prints it as a warning); or null.
    /// </summary>
    public Action<string>? Warning { get; init; }

    /// <summary>The file operations (an internal test seam: tests stand in for the disk; <see cref="IFileStore.Default"/> otherwise).</summary>
    internal IFileStore Files { get; init; } = IFileStore.Default;

    /// <summary>Whether the folder holds a checkpoint (of any model).</summary>
    public bool Exists => Files.Read(Path.Combine(Folder, Checkpoint.ManifestName)) is not null;

    /// <summary>
    /// Saves the run after <paramref name="epoch"/> epochs, keeping the previous checkpoint beside it (older ones are
    /// deleted once the new one is complete).
    /// </summary>
    /// <param name="epoch">Epochs completed.</param>
    /// <param name="model">The model.</param>
    /// <param name="optimizer">The optimiser.</param>
    /// <param name="state">The run's config, data sizes and history.</param>
    public void Save(int epoch, Module<float> model, Optimizer<float> optimizer, TrainingState state)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(state);
        var details = JsonSerializer.SerializeToNode(state, TrainingJson.Default.TrainingState)!.AsObject();
        new Checkpoint(ModelName, epoch, model.State(), optimizer.State(), [(ulong)state.Config.Seed], details: details).Save(Folder, Files);
    }

    /// <summary>
    /// Reads the last checkpoint, checking that it is complete, of this model name and of <paramref name="model"/>'s
    /// architecture, and that it carries a training state; if its tensor file is damaged, the previous checkpoint,
    /// telling <see cref="Warning"/>. Changes nothing; apply it with <see cref="StoredRun.Restore"/>.
    /// </summary>
    /// <param name="model">The model it must fit (names, types and shapes of its tensors).</param>
    /// <exception cref="CheckpointException">No checkpoint, a corrupt one, or one of another model (one-line message).</exception>
    public StoredRun Load(Module<float> model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var ck = Checkpoint.Load(Folder, ModelName, model.State(), Files, Warning);
        if (ck.Details is null)
        {
            throw new CheckpointException($"{Folder}: the checkpoint records no training state (written by an older convgrad); start without --resume");
        }
        TrainingState? state;
        try
        {
            state = ck.Details.Deserialize(TrainingJson.Default.TrainingState);
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{Path.Combine(Folder, Checkpoint.ManifestName)}: corrupt checkpoint: its training state does not read ({e.Message})", e);
        }
        if (state?.Config is null || state.BatchLosses is null || state.Epochs is null)
        {
            throw new CheckpointException($"{Path.Combine(Folder, Checkpoint.ManifestName)}: corrupt checkpoint: its training state is incomplete");
        }
        return new StoredRun(ck, state);
    }
}

/// <summary>A checkpoint as <see cref="CheckpointStore.Load"/> read it.</summary>
/// <param name="Checkpoint">The tensors and the epoch.</param>
/// <param name="State">The run's typed state.</param>
public sealed record StoredRun(Checkpoint Checkpoint, TrainingState State)
{
    /// <summary>Epochs completed.</summary>
    public int Epoch => Checkpoint.Epoch;

    /// <summary>Loads the saved weights into <paramref name="model"/> and the saved state into <paramref name="optimizer"/>.</summary>
    /// <param name="model">The model (of the checkpoint's architecture).</param>
    /// <param name="optimizer">Its optimiser.</param>
    public void Restore(Module<float> model, Optimizer<float> optimizer)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        model.LoadState(Checkpoint.ModelState);
        optimizer.LoadState(Checkpoint.OptimizerState);
    }
}

/// <summary>The JSON form of <see cref="TrainingState"/> (NaN allowed: a run without validation has NaN accuracies).</summary>
[JsonSourceGenerationOptions(NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(TrainingState))]
internal sealed partial class TrainingJson : JsonSerializerContext
{
}
