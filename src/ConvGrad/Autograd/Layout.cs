using System.Numerics;
using System.Runtime.CompilerServices;
using ConvGrad.Cpu.Blocked;

namespace ConvGrad.Autograd;

public static partial class Functional
{
    /// <summary>
    /// The float activation <paramref name="x"/> <c>[N, C, spatial...]</c> (1-3 spatial axes) in the channel-blocked
    /// layout of <see cref="BlockedTensor"/> (<see cref="Variable{T}.IsChannelBlocked"/>): the first edge of a network
    /// that keeps its activations blocked. Convolution, ReLU, pooling, batch norm and residual adds then stay blocked;
    /// <see cref="ToNchw{T}"/> (or flatten / global average pooling, which call it) is the other edge. Gradient: the
    /// reverse reorder. A variable already blocked with this block comes back as it is.
    /// </summary>
    /// <param name="x">An NCHW float variable with 1-3 spatial axes.</param>
    /// <param name="blockSize">8 or 16; 0 picks <see cref="BlockedTensor.PreferredBlockSize"/>.</param>
    /// <param name="threads">Threads for the reorder; 0 means one per processor.</param>
    /// <exception cref="ArgumentException"><typeparamref name="T"/> is not float, the rank is not 3-5, the block size is not 0, 8 or 16, or x is blocked with another block.</exception>
    /// <typeparam name="T">The element type; only float has a blocked layout.</typeparam>
    public static Variable<T> ToBlocked<T>(Variable<T> x, int blockSize = 0, int threads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        if (typeof(T) != typeof(float))
        {
            throw new ArgumentException($"the channel-blocked layout holds float32 activations; got {typeof(T).Name}", nameof(x));
        }
        if (blockSize is not (0 or 8 or 16))
        {
            throw new ArgumentException($"blockSize must be 8, 16 or 0 (the machine's preferred block); got {blockSize}", nameof(blockSize));
        }
        int bs = blockSize == 0 ? BlockedTensor.PreferredBlockSize : blockSize;
        if (x.Blocking is { } have)
        {
            return have.BlockSize == bs ? x : ToBlocked(ToNchw(x, threads), bs, threads);
        }
        if (x.Value.Rank is < 3 or > 5)
        {
            throw new ArgumentException($"the channel-blocked layout needs [N, C, spatial...] with 1-3 spatial axes; got {Shapes.Format(x.Shape)}", nameof(x));
        }
        var blocking = new ActivationBlocking(bs, x.Shape.ToArray(), threads > 0 ? threads : Environment.ProcessorCount);
        var y = Empty<T>(blocking.StorageShape);
        Reorder(x.Value, y, blocking, toBlocked: true, threads);
        return OpTrace.Record(Records(x)
            ? new Variable<T>(y, new ReorderNode<T>(x, blocking, toBlocked: true, threads)) { Blocking = blocking }
            : new Variable<T>(y) { Blocking = blocking }, TracedOpKind.Layout, (object?)null, x);
    }

    /// <summary>
    /// <paramref name="x"/> in NCHW (the edge of a blocked chain): a blocked variable is reordered to its logical shape
    /// <c>[N, C, spatial...]</c>; an NCHW one comes back as it is. Gradient: the reverse reorder.
    /// </summary>
    /// <param name="x">The variable.</param>
    /// <param name="threads">Threads for the reorder; 0 means one per processor.</param>
    /// <typeparam name="T">The element type.</typeparam>
    public static Variable<T> ToNchw<T>(Variable<T> x, int threads = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Blocking is not { } blocking)
        {
            return x;
        }
        var y = Empty<T>(blocking.LogicalShape);
        Reorder(y, x.Value, blocking, toBlocked: false, threads);
        return OpTrace.Record(Records(x) ? new Variable<T>(y, new ReorderNode<T>(x, blocking, toBlocked: false, threads)) : new Variable<T>(y),
            TracedOpKind.Layout, (object?)null, x);
    }

    /// <summary>Converts between the NCHW tensor <paramref name="nchw"/> and the blocked storage <paramref name="blocked"/> (tail zeroed when blocking).</summary>
    private static unsafe void Reorder<T>(Tensor<T> nchw, Tensor<T> blocked, ActivationBlocking b, bool toBlocked, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var work = t_reorder ??= new BlockedLayout.Reorder();
        BlockedLayout.Run(work, (float*)Unsafe.AsPointer(ref nchw.DataRef), (float*)Unsafe.AsPointer(ref blocked.DataRef),
            b.N, b.C, b.BlockSize, b.Spatial, toBlocked, threads > 0 ? threads : b.Threads);
    }

    [ThreadStatic] private static BlockedLayout.Reorder? t_reorder;

    /// <summary>How an error message names a variable's layout.</summary>
    private static string Layout<T>(Variable<T> v) where T : unmanaged, IFloatingPointIeee754<T> =>
        v.Blocking is { } b ? $"blocked{b.BlockSize} {Shapes.Format(b.LogicalShape)}" : $"NCHW {Shapes.Format(v.Shape)}";

    /// <summary>The input in NCHW for an operation that has no blocked kernel (identity for NCHW inputs).</summary>
    private static Variable<T> Nchw<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T> =>
        x is { Blocking: not null } ? ToNchw(x) : x;

    /// <summary>The gradient of a reorder is the reverse reorder.</summary>
    private sealed class ReorderNode<T>(Variable<T> x, ActivationBlocking blocking, bool toBlocked, int threads) : Node<T>(x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => toBlocked ? "ToBlockedBackward" : "ToNchwBackward";

        protected override void Backward(Tensor<T> dy)
        {
            if (toBlocked)
            {
                var dx = Empty<T>(blocking.LogicalShape);
                Reorder(dx, dy, blocking, toBlocked: false, threads);
                Propagate(0, dx, owned: true);
            }
            else
            {
                var dx = Empty<T>(blocking.StorageShape);
                Reorder(dy, dx, blocking, toBlocked: true, threads);
                Propagate(0, dx, owned: true);
            }
        }
    }
}
