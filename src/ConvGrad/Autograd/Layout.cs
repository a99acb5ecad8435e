using System.Numerics;

namespace ConvGrad.Autograd;

public static partial class Functional
{
    /// <summary>
    /// <paramref name="x"/> with its values stored in <paramref name="format"/> (PyTorch's
    /// <c>x.contiguous(memory_format=...)</c>, recorded): the same variable when it already is, else a reorder whose
    /// gradient is the reverse reorder. The logical shape never changes. A network that keeps its activations blocked
    /// converts at its first edge to a blocked format; convolution, ReLU, pooling, batch norm and residual adds then stay
    /// blocked, and <see cref="MemoryFormat.Contiguous"/> (or flatten / global average pooling, which convert) is the
    /// other edge.
    /// </summary>
    /// <param name="x">The variable.</param>
    /// <param name="format">The storage format of the result.</param>
    /// <param name="threads">Threads for the reorder; 0 means the thread count of the layer that made x, else one per processor.</param>
    /// <typeparam name="T">The element type.</typeparam>
    /// <returns>x itself, or its recorded reorder.</returns>
    /// <exception cref="ArgumentException">A blocked format and x is not <c>[N, C, spatial...]</c> with 1-3 spatial axes, or a negative thread count.</exception>
    public static Variable<T> ToFormat<T>(Variable<T> x, MemoryFormat format, int threads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var profiled = OpProfiler.Time(ProfiledOp.Layout);
        ArgumentNullException.ThrowIfNull(x);
        if (threads < 0)
        {
            throw new ArgumentException($"threads must be >= 0 (0 = the layer's); got {threads}", nameof(threads));
        }
        if (x.Format == format)
        {
            return x;
        }
        if (format.IsBlocked())
        {
            MemoryFormats.StorageShape(format, x.Shape);
        }
        int t = threads > 0 ? threads : x.Threads > 0 ? x.Threads : Environment.ProcessorCount;
        var y = ScopedTensors<T>.Rent(x.Shape, format, clear: false);
        y.CopyFrom(x.Value, t);
        return OpTrace.Record(Records(x) ? new Variable<T>(y, new ReorderNode<T>(x, t)) { Threads = t } : new Variable<T>(y) { Threads = t },
            TracedOpKind.Layout, (object?)null, x);
    }

    /// <summary>
    /// The float activation <paramref name="x"/> <c>[N, C, spatial...]</c> (1-3 spatial axes) in the channel-blocked
    /// format of <paramref name="blockSize"/> channels per block: <see cref="ToFormat{T}"/> with
    /// <see cref="MemoryFormats.Blocked"/>.
    /// </summary>
    /// <param name="x">A variable with 1-3 spatial axes.</param>
    /// <param name="blockSize">8 or 16; 0 picks <see cref="BlockedTensor.PreferredBlockSize"/>.</param>
    /// <param name="threads">Threads for the reorder; 0 means one per processor.</param>
    /// <exception cref="ArgumentException">The rank is not 3-5 or the block size is not 0, 8 or 16.</exception>
    /// <typeparam name="T">The element type.</typeparam>
    public static Variable<T> ToBlocked<T>(Variable<T> x, int blockSize = 0, int threads = 0) where T : unmanaged, IFloatingPointIeee754<T> =>
        ToFormat(x, MemoryFormats.Blocked(blockSize), threads);

    /// <summary><paramref name="x"/> in NCHW: <see cref="ToFormat{T}"/> with <see cref="MemoryFormat.Contiguous"/>.</summary>
    /// <param name="x">The variable.</param>
    /// <param name="threads">Threads for the reorder; 0 means one per processor.</param>
    /// <typeparam name="T">The element type.</typeparam>
    public static Variable<T> ToNchw<T>(Variable<T> x, int threads = 0) where T : unmanaged, IFloatingPointIeee754<T> =>
        ToFormat(x, MemoryFormat.Contiguous, threads);

    /// <summary>How an error message names a variable's layout.</summary>
    private static string Layout<T>(Variable<T> v) where T : unmanaged, IFloatingPointIeee754<T> => MemoryFormats.Describe(v.Format, v.Shape);

    /// <summary>The gradient of a reorder is the reverse reorder.</summary>
    private sealed class ReorderNode<T>(Variable<T> x, int threads) : Node<T>(x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => Inputs[0].IsChannelBlocked ? "ToNchwBackward" : "ToBlockedBackward";

        protected override void Backward(Tensor<T> dy)
        {
            var x = Inputs[0];
            var dx = ScopedTensors<T>.Rent(x.Shape, x.Format, clear: false);
            dx.CopyFrom(dy, threads);
            Propagate(0, dx, owned: true);
        }
    }
}
