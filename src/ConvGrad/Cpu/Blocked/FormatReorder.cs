using System.Numerics;
using System.Runtime.CompilerServices;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// Copies values between tensors of one logical shape <c>[N, C, spatial...]</c> in any two <see cref="MemoryFormat"/>s:
/// <c>blocked[n, c/B, s, c%B] = nchw[n, c, s]</c>, the channels past C zero. float runs on the vectorised, threaded
/// <see cref="BlockedLayout"/>; float64 (gradient checks) on the scalar loops here.
/// </summary>
internal static unsafe class FormatReorder
{
    [ThreadStatic] private static BlockedLayout.Reorder? t_work;

    /// <summary>Writes <paramref name="source"/>'s values into <paramref name="destination"/> (same logical shape).</summary>
    public static void Copy<T>(Tensor<T> source, Tensor<T> destination, int threads) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (source.Format == destination.Format)
        {
            source.ReadOnlySpan.CopyTo(destination.Span);
        }
        else if (source.Format == MemoryFormat.Contiguous)
        {
            Reorder(source, destination, toBlocked: true, threads);
        }
        else if (destination.Format == MemoryFormat.Contiguous)
        {
            Reorder(destination, source, toBlocked: false, threads);
        }
        else
        {
            using var nchw = Tensor<T>.ForKernel(source.Shape, MemoryFormat.Contiguous, clear: false);
            Reorder(nchw, source, toBlocked: false, threads);
            Reorder(nchw, destination, toBlocked: true, threads);
        }
    }

    /// <summary>Zeroes the channels past C of a blocked tensor's last block.</summary>
    public static void ClearTail<T>(Tensor<T> t) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = t.Shape;
        int bs = t.Format.BlockSize(), c = shape[1], cb = (c + bs - 1) / bs, lanes = c - (cb - 1) * bs;
        if (lanes == bs)
        {
            return;
        }
        int n = shape[0], spatial = (int)Shapes.Product(shape[2..]);
        var s = t.Span;
        for (int img = 0; img < n; img++)
        {
            var plane = s.Slice(((img * cb) + cb - 1) * spatial * bs, spatial * bs);
            for (int p = 0; p < spatial; p++)
            {
                plane.Slice(p * bs + lanes, bs - lanes).Clear();
            }
        }
    }

    /// <summary>Converts between the contiguous <paramref name="nchw"/> and the blocked <paramref name="blocked"/>, in the direction <paramref name="toBlocked"/>.</summary>
    private static void Reorder<T>(Tensor<T> nchw, Tensor<T> blocked, bool toBlocked, int threads) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = nchw.Shape;
        int n = shape[0], c = shape[1], bs = blocked.Format.BlockSize(), spatial = (int)Shapes.Product(shape[2..]);
        if (typeof(T) == typeof(float))
        {
            BlockedLayout.Run(t_work ??= new BlockedLayout.Reorder(), (float*)Unsafe.AsPointer(ref nchw.DataRef),
                (float*)Unsafe.AsPointer(ref blocked.DataRef), n, c, bs, spatial, toBlocked, threads);
            return;
        }
        int cb = (c + bs - 1) / bs;
        var plain = nchw.Span;
        var blk = blocked.Span;
        for (int img = 0; img < n; img++)
        {
            for (int block = 0; block < cb; block++)
            {
                int c0 = block * bs, lanes = Math.Min(bs, c - c0);
                var b = blk.Slice((img * cb + block) * spatial * bs, spatial * bs);
                if (toBlocked && lanes < bs)
                {
                    b.Clear();
                }
                for (int l = 0; l < lanes; l++)
                {
                    var row = plain.Slice(((img * c) + c0 + l) * spatial, spatial);
                    for (int p = 0; p < spatial; p++)
                    {
                        if (toBlocked)
                        {
                            b[p * bs + l] = row[p];
                        }
                        else
                        {
                            row[p] = b[p * bs + l];
                        }
                    }
                }
            }
        }
    }
}
