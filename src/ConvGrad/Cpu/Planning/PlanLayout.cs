namespace ConvGrad.Cpu;

/// <summary>
/// The memory layouts of a pass's activations, x (and dX) and y (and dY), as the planner sees them; the weights are
/// always PyTorch-shaped <c>[K, C/G, k...]</c>.
/// </summary>
internal enum PlanLayout
{
    /// <summary>x and y plain NC[D]HW: the public tensor API. Any conversion a kernel needs happens inside the call.</summary>
    Nchw,

    /// <summary>x and y channel-blocked (<see cref="BlockedTensor"/>, the tier's block): chained layers and <c>bench</c>'s blocked rows.</summary>
    Blocked,

    /// <summary>x plain NCHW and y channel-blocked: a network's first layer, whose 1-3 input channels would be mostly zero lanes blocked.</summary>
    NchwToBlocked,
}
