namespace ConvGrad.Optim;

/// <summary>A learning rate as a function of the step number (0-based).</summary>
public interface ILearningRateSchedule
{
    /// <summary>The learning rate for step <paramref name="step"/>.</summary>
    double At(int step);
}

/// <summary>The same learning rate at every step.</summary>
/// <param name="Rate">The learning rate.</param>
public sealed record ConstantSchedule(double Rate) : ILearningRateSchedule
{
    /// <inheritdoc />
    public double At(int step) => Rate;
}

/// <summary>
/// The one-cycle policy (Smith 2018; PyTorch's <c>OneCycleLR</c> with cosine annealing): over the first
/// <c>warmup·total</c> steps the rate rises from <c>max/div</c> to <c>max</c> along a half cosine, then falls to
/// <c>max/(div·finalDiv)</c> along another.
/// </summary>
public sealed class OneCycleSchedule : ILearningRateSchedule
{
    /// <summary>Creates the schedule for <paramref name="totalSteps"/> steps.</summary>
    /// <param name="maxRate">The peak learning rate.</param>
    /// <param name="totalSteps">The number of steps of the whole run.</param>
    /// <param name="warmup">The share of steps spent rising to the peak.</param>
    /// <param name="div">The start rate is maxRate / div.</param>
    /// <param name="finalDiv">The final rate is start rate / finalDiv.</param>
    public OneCycleSchedule(double maxRate, int totalSteps, double warmup = 0.25, double div = 25, double finalDiv = 1e4)
    {
        if (!(maxRate > 0) || totalSteps < 1 || !(warmup is > 0 and < 1) || !(div >= 1) || !(finalDiv >= 1))
        {
            throw new ArgumentException($"one-cycle needs maxRate > 0, totalSteps >= 1, warmup in (0, 1), div and finalDiv >= 1; got {maxRate}, {totalSteps}, {warmup}, {div}, {finalDiv}", nameof(maxRate));
        }
        MaxRate = maxRate;
        TotalSteps = totalSteps;
        WarmupSteps = Math.Max(1, (int)(warmup * totalSteps));
        Initial = maxRate / div;
        Final = Initial / finalDiv;
    }

    /// <summary>The peak rate.</summary>
    public double MaxRate { get; }

    /// <summary>Steps in the whole cycle.</summary>
    public int TotalSteps { get; }

    /// <summary>Steps spent rising.</summary>
    public int WarmupSteps { get; }

    /// <summary>The rate at step 0.</summary>
    public double Initial { get; }

    /// <summary>The rate at the last step.</summary>
    public double Final { get; }

    /// <inheritdoc />
    public double At(int step)
    {
        step = Math.Clamp(step, 0, TotalSteps - 1);
        if (step < WarmupSteps)
        {
            return Cosine(Initial, MaxRate, (double)step / WarmupSteps);
        }
        int down = Math.Max(1, TotalSteps - 1 - WarmupSteps);
        return Cosine(MaxRate, Final, (double)(step - WarmupSteps) / down);
    }

    private static double Cosine(double from, double to, double t) => to + (from - to) * (1 + Math.Cos(Math.PI * t)) / 2;
}

/// <summary>
/// Schedules run one after another (PyTorch's <c>SequentialLR</c>): each runs for its number of steps, counting its own
/// steps from 0, and the last one keeps its final rate past its end. A run extended by more epochs follows one of
/// these: its first one-cycle, then a new one-cycle over the added epochs.
/// </summary>
public sealed class SequentialSchedule : ILearningRateSchedule
{
    private readonly (int Steps, ILearningRateSchedule Schedule)[] _parts;

    /// <summary>Chains <paramref name="parts"/> in order.</summary>
    /// <param name="parts">Each schedule with the number of steps it runs (≥ 1).</param>
    /// <exception cref="ArgumentException">No parts, a null schedule or fewer than 1 step.</exception>
    public SequentialSchedule(IEnumerable<(int Steps, ILearningRateSchedule Schedule)> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        _parts = [.. parts];
        if (_parts.Length == 0 || _parts.Any(p => p.Steps < 1 || p.Schedule is null))
        {
            throw new ArgumentException($"a sequence needs at least one schedule, each of >= 1 steps; got steps [{string.Join(", ", _parts.Select(p => p.Steps))}]", nameof(parts));
        }
    }

    /// <summary>The number of steps of each part, in order.</summary>
    public IReadOnlyList<int> Steps => [.. _parts.Select(p => p.Steps)];

    /// <inheritdoc />
    public double At(int step)
    {
        for (int i = 0; i < _parts.Length - 1; i++)
        {
            if (step < _parts[i].Steps)
            {
                return _parts[i].Schedule.At(step);
            }
            step -= _parts[i].Steps;
        }
        return _parts[^1].Schedule.At(step);
    }
}
