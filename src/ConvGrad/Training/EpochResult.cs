namespace ConvGrad.Training;

/// <summary>What one epoch of a <see cref="TrainingRun"/> gave.</summary>
/// <param name="Epoch">The epoch, 1-based.</param>
/// <param name="TrainLoss">The mean of the epoch's batch losses.</param>
/// <param name="TestLoss">The mean loss on the held-out set after the epoch.</param>
/// <param name="TestAccuracy">The held-out accuracy after the epoch, in [0, 1].</param>
/// <param name="ValidationAccuracy">The validation accuracy, or NaN without a validation set.</param>
/// <param name="Seconds">Wall-clock seconds of the epoch's training (evaluation not included).</param>
public sealed record EpochResult(int Epoch, double TrainLoss, double TestLoss, double TestAccuracy, double ValidationAccuracy, double Seconds)
{
    /// <summary>CPU seconds of the epoch's training, all threads together (the work done, whatever else loads the machine).</summary>
    public double CpuSeconds { get; init; }
}
