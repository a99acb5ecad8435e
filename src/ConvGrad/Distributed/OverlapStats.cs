namespace ConvGrad.Distributed;

/// <summary>
/// How much of the gradient all-reduce a <see cref="GradientBucketer{T}"/> hid behind the backward pass.
/// </summary>
/// <param name="Steps">Steps (calls of <see cref="GradientBucketer{T}.Finish"/>) measured.</param>
/// <param name="Reductions">Bucket reductions started.</param>
/// <param name="InFlightSeconds">
/// The summed time from each bucket's start to the moment its completion was seen (by a poll while backward ran,
/// or at the end of its wait): the reduce time as the step experienced it.
/// </param>
/// <param name="WaitSeconds">The time <see cref="GradientBucketer{T}.Finish"/> blocked waiting for reductions: communication not hidden.</param>
public readonly record struct OverlapStats(long Steps, long Reductions, double InFlightSeconds, double WaitSeconds)
{
    /// <summary>
    /// The share of reduce time hidden behind compute, <c>1 − WaitSeconds / InFlightSeconds</c> (0 when nothing was
    /// reduced). A poll sees completion late, so in-flight time is an upper bound and this share is generous by at most
    /// the gap between polls; <see cref="WaitSeconds"/> per step is the exact cost the step paid.
    /// </summary>
    public double HiddenShare => InFlightSeconds > 0 ? Math.Clamp(1 - WaitSeconds / InFlightSeconds, 0, 1) : 0;

    /// <summary>Mean blocked time per step, in seconds.</summary>
    public double WaitSecondsPerStep => Steps > 0 ? WaitSeconds / Steps : 0;
}
