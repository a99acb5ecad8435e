namespace ConvGrad.Cpu;

/// <summary>
/// The kernels a <see cref="ConvPlan"/> chooses among. Each is decided once, in <see cref="ConvPlan.Create"/>; nothing
/// downstream re-derives the choice. New kernels are added here, to the plan's choice and to its <see cref="ConvPlan.Run"/> switch.
/// </summary>
internal enum ConvKernel
{
    /// <summary>The blocked GEMM of the tier's tile: implicit-im2col forward, stride-phase dX, dW over batch × positions.</summary>
    Gemm,

    /// <summary>Backward-data computed directly by stride phases for groups of at most three input channels (AVX2 and up).</summary>
    FewChannelsBackwardData,

    /// <summary>The direct depthwise kernels (one input channel per group), on 8-channel blocks or per-channel rows.</summary>
    Depthwise,

    /// <summary>
    /// The direct kernels on the channel-blocked layout (16 channels per block on AVX-512, 8 on AVX2), the NCHW operands
    /// converted in and out inside the call (<see cref="Blocked.BlockedNchw"/>).
    /// </summary>
    DirectBlocked,
}
