using System.Numerics;

namespace ConvGrad.Nn;

/// <summary>
/// Switches a model's convolutions between keeping their activations in the channel-blocked layout
/// (<see cref="ConvNd{T}.KeepsActivationsBlocked"/>) and NCHW. A model may keep them blocked when its forward pass
/// converts at the edges: its ops are convolution, ReLU, pooling, batch norm, residual adds, and flatten or global
/// average pooling before a linear head (which reorder to NCHW, so the head's weights keep PyTorch's order).
/// </summary>
public static class BlockedActivations
{
    /// <summary>Sets <see cref="ConvNd{T}.KeepsActivationsBlocked"/> on every convolution in <paramref name="model"/> (recursively).</summary>
    /// <param name="model">The model.</param>
    /// <param name="keep">true: blocked between layers where the tier allows; false: NCHW everywhere.</param>
    /// <typeparam name="T">The model's element type; only float models use the blocked layout.</typeparam>
    public static void Keep<T>(Module<T> model, bool keep = true) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        Set(model, keep);
    }

    private static void Set<T>(Module<T> m, bool keep) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m is ConvNd<T> conv)
        {
            conv.KeepsActivationsBlocked = keep;
        }
        foreach (var (_, child) in m.NamedChildren())
        {
            Set(child, keep);
        }
    }
}
