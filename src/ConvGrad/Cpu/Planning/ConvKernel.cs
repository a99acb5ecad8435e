namespace ConvGrad.Cpu;

/// <summary>
/// The leaf kernels a <see cref="ConvPlan"/> runs. Each is chosen once, by <see cref="ConvPlanner"/>; nothing downstream
/// re-derives the choice. A new kernel is added here, to the planner's choice and to the plan's <see cref="ConvPlan.Run"/>.
/// </summary>
internal enum ConvKernel
{
    /// <summary>The blocked GEMM of the tier's tile: implicit-im2col forward, stride-phase dX, dW over batch × positions.</summary>
    Gemm,

    /// <summary>Backward-data computed directly by stride phases for groups of at most three input channels (AVX2 and up).</summary>
    FewChannelsBackwardData,

    /// <summary>Depthwise on NCHW, eight channels at a time transposed into one vector per pixel (<c>depthwise-blocked8</c>).</summary>
    DepthwiseBlocked8,

    /// <summary>Depthwise on NCHW, one channel plane at a time along its rows (<c>depthwise-rows8</c>, or scalar on the portable tier).</summary>
    DepthwiseRows,

    /// <summary>
    /// The direct kernels on the channel-blocked layout (16 channels per block on AVX-512, 8 on AVX2): on blocked tensors,
    /// or inside an NCHW call with the operands converted in and out (<see cref="Blocked.BlockedNchw"/>).
    /// </summary>
    DirectBlocked,

    /// <summary>
    /// The first-layer kernels (one group, 1-3 input channels): they read x as plain NCHW and y or dY in the blocked
    /// layout (<see cref="Blocked.FlatInput"/>); inside an NCHW call dY is converted in.
    /// </summary>
    FirstLayer,

    /// <summary>Blocked tensors the blocked kernels do not cover: converted to NCHW, computed by the NCHW plan, converted back.</summary>
    ThroughNchw,
}
