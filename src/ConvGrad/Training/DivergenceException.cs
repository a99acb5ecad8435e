namespace ConvGrad.Training;

/// <summary>
/// Training stopped because a quantity went non-finite (NaN or ±∞): the loss, a gradient, or a weight after the
/// optimiser step — Keras's <c>TerminateOnNaN</c>, Lightning's <c>detect_anomaly</c>. Thrown before anything with
/// those values is saved, so the last checkpoint stays the last good state.
/// </summary>
public sealed class DivergenceException : ArithmeticException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="epoch">The epoch, 1-based.</param>
    /// <param name="step">The step within the whole run, 0-based (the schedule's step).</param>
    /// <param name="quantity">What went non-finite, e.g. <c>the loss</c>, <c>the gradient of fc1.weight</c>.</param>
    /// <param name="value">The offending value as text (<c>NaN</c>, <c>Infinity</c>).</param>
    /// <param name="anomaly">Anomaly mode's report of the first operation that went non-finite, or null.</param>
    public DivergenceException(int epoch, long step, string quantity, string value, string? anomaly = null)
        : base($"training diverged at epoch {epoch}, step {step}: {quantity} is {value}{(anomaly is null ? "" : $"; {anomaly}")}; " +
               "nothing of this step was saved; lower the learning rate")
    {
        Epoch = epoch;
        Step = step;
        Quantity = quantity;
    }

    /// <summary>The epoch, 1-based.</summary>
    public int Epoch { get; }

    /// <summary>The step within the run, 0-based.</summary>
    public long Step { get; }

    /// <summary>What went non-finite.</summary>
    public string Quantity { get; }
}
