using System.Diagnostics;
using System.Globalization;
using System.Text;
using ConvGrad.Autograd;

namespace ConvGrad.Training;

/// <summary>One row of a <see cref="StepProfile"/>: an operation kind and its time per step.</summary>
/// <param name="Operation">The kind, as the table names it (<c>conv dW</c>, <c>batch norm</c>, <c>optimizer step</c>, ...).</param>
/// <param name="ForwardSeconds">Seconds per step in the forward pass (or outside the passes: data, optimiser).</param>
/// <param name="BackwardSeconds">Seconds per step in the backward pass.</param>
/// <param name="Share">(forward + backward) ÷ the step's time; the rows' shares sum to 1.</param>
public readonly record struct StepProfileRow(string Operation, double ForwardSeconds, double BackwardSeconds, double Share)
{
    /// <summary>Forward + backward seconds per step.</summary>
    public double Seconds => ForwardSeconds + BackwardSeconds;
}

/// <summary>
/// Where the time of training steps goes, per operation kind (<c>convgrad train --profile</c>): every differentiable
/// operation's forward pass and its node's backward rule (a convolution's backward split into dX, dW and db), memory
/// reorders, the autograd's bookkeeping, waiting for data, clearing gradients, the optimiser step, the divergence
/// guard, and the rest of the step (module code, tensor pools) as <c>step remainder</c>. Set
/// <see cref="ClassifierTrainer.Profile"/> (or <see cref="TrainingRun.Profile"/>) to collect one. Each region is timed
/// exclusive of the regions nested in it, so the rows add up to the steps' wall time. Profiling only reads clocks:
/// the results of a profiled run are bitwise those of an unprofiled one, and without a profile nothing is timed.
/// </summary>
public sealed class StepProfile
{
    /// <summary>The name of the row that holds the step time no operation claimed.</summary>
    public const string Remainder = "step remainder";

    private readonly long[] _forward = new long[ProfiledOps.Count], _backward = new long[ProfiledOps.Count];
    private long _total;

    /// <summary>Training steps profiled.</summary>
    public int Steps { get; private set; }

    /// <summary>Wall-clock seconds of those steps (including waiting for their batches).</summary>
    public double Seconds => (double)_total / Stopwatch.Frequency;

    /// <summary>Ticks of the regions nested in the open ones (see <see cref="OpProfiler.Scope"/>).</summary>
    internal long Nested { get; set; }

    /// <summary>
    /// The kinds that took time, slowest first, then <see cref="Remainder"/>: seconds per step and share of the step.
    /// </summary>
    public IReadOnlyList<StepProfileRow> Rows
    {
        get
        {
            var rows = new List<StepProfileRow>();
            double steps = Math.Max(1, Steps), total = Math.Max(1, _total), freq = Stopwatch.Frequency;
            long claimed = 0;
            for (int i = 0; i < ProfiledOps.Count; i++)
            {
                long f = _forward[i], b = _backward[i];
                claimed += f + b;
                if (f + b > 0)
                {
                    rows.Add(new StepProfileRow(ProfiledOps.Name((ProfiledOp)i), f / freq / steps, b / freq / steps, (f + b) / total));
                }
            }
            rows.Sort((x, y) => y.Seconds.CompareTo(x.Seconds));
            // The step's time outside every timed region (never negative: the regions lie inside the steps).
            long rest = Math.Max(0, _total - claimed);
            rows.Add(new StepProfileRow(Remainder, rest / freq / steps, 0, rest / total));
            return rows;
        }
    }

    /// <summary>
    /// The table <c>convgrad train --profile</c> prints: one line per row of <see cref="Rows"/> (forward, backward and
    /// total milliseconds per step, share of the step) and a last <c>step</c> line with the totals.
    /// </summary>
    /// <param name="title">What was profiled (the first line, e.g. the model and batch).</param>
    public string Format(string title)
    {
        ArgumentNullException.ThrowIfNull(title);
        var rows = Rows;
        double steps = Math.Max(1, Steps);
        var s = new StringBuilder();
        s.AppendLine(CultureInfo.InvariantCulture, $"profile: {title}, {Steps} steps, {1e3 * Seconds / steps:F2} ms per step");
        s.AppendLine(CultureInfo.InvariantCulture, $"  {"operation",-24} {"forward ms",11} {"backward ms",12} {"total ms",9} {"share",7}");
        double fwd = 0, bwd = 0, share = 0;
        foreach (var r in rows)
        {
            s.AppendLine(CultureInfo.InvariantCulture,
                $"  {r.Operation,-24} {1e3 * r.ForwardSeconds,11:F3} {1e3 * r.BackwardSeconds,12:F3} {1e3 * r.Seconds,9:F3} {100 * r.Share,6:F1}%");
            fwd += r.ForwardSeconds;
            bwd += r.BackwardSeconds;
            share += r.Share;
        }
        s.AppendLine(CultureInfo.InvariantCulture, $"  {"step",-24} {1e3 * fwd,11:F3} {1e3 * bwd,12:F3} {1e3 * (fwd + bwd),9:F3} {100 * share,6:F1}%");
        return s.ToString();
    }

    /// <summary>Clears everything collected.</summary>
    public void Reset()
    {
        Array.Clear(_forward);
        Array.Clear(_backward);
        _total = 0;
        Steps = 0;
    }

    internal void Add(ProfiledOp op, bool backward, long ticks) => (backward ? _backward : _forward)[(int)op] += ticks;

    /// <summary>Adds a stretch of the training loop that began at timestamp <paramref name="start"/> (a step when <paramref name="step"/>).</summary>
    internal void AddLoop(long start, bool step)
    {
        _total += Stopwatch.GetTimestamp() - start;
        if (step)
        {
            Steps++;
        }
    }
}
