namespace ConvGrad.Training;

/// <summary>
/// What a checkpoint of a <see cref="TrainingRun"/> records beside the tensors: the config and data sizes that made
/// it (a resume must match them), the number of ranks, the schedule's step, and the history so far (every batch loss
/// and every epoch's results, so that a resumed run's logs and plot are those of an uninterrupted one).
/// </summary>
/// <param name="Config">The run's config.</param>
/// <param name="Data">The sizes of the training, held-out and validation sets.</param>
/// <param name="Ranks">The ranks that trained it (informational: a resume may use another count).</param>
/// <param name="ScheduleStep">Optimiser steps taken so far.</param>
/// <param name="BatchLosses">The loss of every batch so far.</param>
/// <param name="Epochs">Every completed epoch's results.</param>
public sealed record TrainingState(TrainingConfig Config, DataSizes Data, int Ranks, long ScheduleStep,
    IReadOnlyList<double> BatchLosses, IReadOnlyList<EpochResult> Epochs)
{
    /// <summary>
    /// The epochs of each one-cycle of the learning-rate schedule, in order: one entry, the config's epochs, for a run
    /// never extended; a run extended by more epochs (<see cref="TrainingRun.Resume"/>) adds one cycle per extension.
    /// Null (a checkpoint written before runs could be extended) means one cycle over all the epochs.
    /// </summary>
    public IReadOnlyList<int>? Cycles { get; init; }

    /// <summary>The epochs of each cycle: <see cref="Cycles"/>, or one cycle over all the config's epochs when it is null.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<int> CycleEpochs => Cycles ?? [Config.Epochs];

    /// <summary>
    /// The options that differ from <paramref name="other"/>'s (the config's, and the data sizes as <c>train images</c>,
    /// <c>held-out images</c>, <c>validation images</c>), each with this state's value as old and <paramref name="other"/>'s as new.
    /// </summary>
    /// <param name="other">The state of the run that would continue this one.</param>
    public IReadOnlyList<OptionChange> Differences(TrainingState other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var changes = Config.Differences(other.Config).ToList();
        changes.AddRange(Data.Differences(other.Data));
        return changes;
    }
}

/// <summary>The number of images in each part of a run's data.</summary>
/// <param name="Train">Training images.</param>
/// <param name="Test">Held-out images.</param>
/// <param name="Validation">Validation images (0: none).</param>
public readonly record struct DataSizes(int Train, int Test, int Validation)
{
    /// <summary>The sizes that differ from <paramref name="other"/>'s.</summary>
    /// <param name="other">The sizes to compare with.</param>
    public IEnumerable<OptionChange> Differences(DataSizes other)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        if (Train != other.Train)
        {
            yield return new OptionChange("train images", Train.ToString(inv), other.Train.ToString(inv));
        }
        if (Test != other.Test)
        {
            yield return new OptionChange("held-out images", Test.ToString(inv), other.Test.ToString(inv));
        }
        if (Validation != other.Validation)
        {
            yield return new OptionChange("validation images", Validation.ToString(inv), other.Validation.ToString(inv));
        }
    }
}
