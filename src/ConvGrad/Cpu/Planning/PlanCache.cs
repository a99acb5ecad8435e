using ConvGrad.Cpu.Blocked;

namespace ConvGrad.Cpu;

/// <summary>
/// The one cache of the blocked kernels' executors (<see cref="BlockedConvPlan"/>: geometry, reblocked weight arrays,
/// work objects), per thread and kept by problem shape and block, made on first use and then reused (round-robin
/// replacement), so every caller (the NCHW API, the blocked API, the layers, the autograd) allocates nothing once its
/// shapes have been seen. An executor holds reblocked weights: every pass that needs them reblocks first (into the
/// executor's arrays), so one executor serves every layer of its shape on its thread.
/// </summary>
internal static class PlanCache
{
    /// <summary>Executors kept per thread: more than the distinct conv shapes of the bundled ResNet (its layers, their NCHW fallbacks and the bench suite).</summary>
    private const int Capacity = 32;

    [ThreadStatic] private static BlockedConvPlan?[]? t_plans;
    [ThreadStatic] private static int t_next;

    /// <summary>This thread's executor of <paramref name="p"/> with block <paramref name="blockSize"/> (the blocked kernels must cover it).</summary>
    public static BlockedConvPlan For(ConvProblem p, int blockSize)
    {
        var plans = t_plans ??= new BlockedConvPlan?[Capacity];
        foreach (var plan in plans)
        {
            if (plan is not null && plan.BlockSize == blockSize && (ReferenceEquals(plan.Problem, p) || SameShape(plan.Problem, p)))
            {
                return plan;
            }
        }
        var made = new BlockedConvPlan(p, blockSize);
        plans[t_next] = made;
        t_next = (t_next + 1) % Capacity;
        return made;
    }

    /// <summary>Whether two problems have the same shapes and geometry.</summary>
    public static bool SameShape(ConvProblem a, ConvProblem b) =>
        a.Dims == b.Dims && a.N == b.N && a.C == b.C && a.K == b.K && a.Groups == b.Groups &&
        a.In.AsSpan().SequenceEqual(b.In) && a.Out.AsSpan().SequenceEqual(b.Out) && a.Ker.AsSpan().SequenceEqual(b.Ker) &&
        a.Stride.AsSpan().SequenceEqual(b.Stride) && a.Dil.AsSpan().SequenceEqual(b.Dil) && a.Pad.AsSpan().SequenceEqual(b.Pad);
}
