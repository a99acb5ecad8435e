using ConvGrad.Cpu.Blocked;

namespace ConvGrad.Cpu;

/// <summary>
/// Which leaf kernel last ran on this thread, written by the leaves themselves at their entry (never by the planner), so
/// tests can check that a plan's name is the kernel that actually ran. Writing it costs two field stores and no allocation;
/// the name is only put together when <see cref="Last"/> is read.
/// </summary>
internal static class KernelRecord
{
    [ThreadStatic] private static string? t_name;
    [ThreadStatic] private static IsaTier? t_tier;
    [ThreadStatic] private static BlockedConvPlan? t_blocked;
    [ThreadStatic] private static ConvPass t_pass;
    [ThreadStatic] private static bool t_flat;

    /// <summary>The name of the last leaf kernel this thread ran, as plans name kernels; null before any.</summary>
    public static string? Last =>
        t_blocked is { } b ? (t_flat ? b.FlatName(t_pass) : b.Name(t_pass))
        : t_tier is { } tier ? $"{t_name} {IsaTiers.Name(tier)}"
        : t_name;

    /// <summary>Forgets the last kernel.</summary>
    public static void Clear()
    {
        t_name = null;
        t_tier = null;
        t_blocked = null;
    }

    /// <summary>A kernel with a fixed name (a GEMM tile's <c>gemm12x32 avx512</c>), or one whose name is completed by the tier it ran for.</summary>
    public static void Ran(string name, IsaTier? tier = null)
    {
        t_name = name;
        t_tier = tier;
        t_blocked = null;
    }

    /// <summary>A direct blocked kernel (<paramref name="flat"/>: a first-layer one) of <paramref name="plan"/>'s geometry.</summary>
    public static void RanBlocked(BlockedConvPlan plan, ConvPass pass, bool flat)
    {
        t_blocked = plan;
        t_pass = pass;
        t_flat = flat;
    }
}
