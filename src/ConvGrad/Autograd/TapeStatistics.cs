using System.Diagnostics;

namespace ConvGrad.Autograd;

/// <summary>
/// What the backward passes cost beyond their rules: the walk (collecting and ordering the nodes), the dispatch, the
/// summing of gradients that meet and the releasing of saved tensors — the autograd's own bookkeeping, measured by
/// timing every node's rule (its kernels) and subtracting from the whole pass. Process-wide, all threads.
/// </summary>
public static class TapeStatistics
{
    private static long s_passes, s_nodes, s_ticks;

    /// <summary>Backward passes run.</summary>
    public static long Passes => Interlocked.Read(ref s_passes);

    /// <summary>Nodes visited by those passes.</summary>
    public static long Nodes => Interlocked.Read(ref s_nodes);

    /// <summary>Seconds spent in backward passes outside the nodes' rules.</summary>
    public static double BookkeepingSeconds => (double)Interlocked.Read(ref s_ticks) / Stopwatch.Frequency;

    /// <summary>Zeroes the counters.</summary>
    public static void Reset()
    {
        Interlocked.Exchange(ref s_passes, 0);
        Interlocked.Exchange(ref s_nodes, 0);
        Interlocked.Exchange(ref s_ticks, 0);
    }

    internal static void Add(int nodes, long ticks)
    {
        Interlocked.Increment(ref s_passes);
        Interlocked.Add(ref s_nodes, nodes);
        Interlocked.Add(ref s_ticks, ticks);
    }
}
