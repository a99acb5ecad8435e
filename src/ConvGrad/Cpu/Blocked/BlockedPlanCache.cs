namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// A few <see cref="BlockedConvPlan"/>s kept by problem shape and block, made on first use and then reused (round-robin
/// replacement), so a layer or a caller of the public blocked API allocates nothing once its shapes have been seen. A plan
/// holds reblocked weights: every pass that needs them reblocks first (into the plan's arrays), so one plan may serve
/// several layers of the same shape. Not thread-safe: one cache per layer or per thread.
/// </summary>
internal sealed class BlockedPlanCache(int capacity)
{
    private readonly BlockedConvPlan?[] _plans = new BlockedConvPlan?[capacity];
    private int _next;

    /// <summary>The plan of <paramref name="p"/> with block <paramref name="blockSize"/> (the blocked kernels must apply).</summary>
    public BlockedConvPlan For(ConvProblem p, int blockSize)
    {
        foreach (var plan in _plans)
        {
            if (plan is not null && plan.BlockSize == blockSize && SameShape(plan.Problem, p))
            {
                return plan;
            }
        }
        var made = new BlockedConvPlan(p, blockSize);
        _plans[_next] = made;
        _next = (_next + 1) % _plans.Length;
        return made;
    }

    /// <summary>Whether two problems have the same shapes and geometry.</summary>
    public static bool SameShape(ConvProblem a, ConvProblem b) =>
        a.Dims == b.Dims && a.N == b.N && a.C == b.C && a.K == b.K && a.Groups == b.Groups &&
        a.In.AsSpan().SequenceEqual(b.In) && a.Out.AsSpan().SequenceEqual(b.Out) && a.Ker.AsSpan().SequenceEqual(b.Ker) &&
        a.Stride.AsSpan().SequenceEqual(b.Stride) && a.Dil.AsSpan().SequenceEqual(b.Dil) && a.Pad.AsSpan().SequenceEqual(b.Pad);
}
