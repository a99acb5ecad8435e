namespace ConvGrad.Cpu.Blocked;

/// <summary>Which element types and problems the channel-blocked convolution kernels cover (float32 only).</summary>
internal static class BlockedKernels
{
    /// <summary>Whether the blocked convolution kernels exist for <typeparamref name="T"/> (they are float32 kernels).</summary>
    public static bool CoverType<T>() => typeof(T) == typeof(float);

    /// <summary>
    /// Whether a convolution <paramref name="p"/> of <typeparamref name="T"/> on an input in <paramref name="format"/>
    /// runs on the blocked kernels with these options: the planner's choice (<see cref="ConvPlanner.PlanBlocked"/>).
    /// </summary>
    public static bool CoverConv<T>(ConvProblem p, MemoryFormat format, ConvOptions? options) =>
        CoverType<T>() && format.IsBlocked() && ConvPlanner.PlanBlocked(p, ConvPass.Forward, format.BlockSize(), options).Kernel == ConvKernel.DirectBlocked;
}
