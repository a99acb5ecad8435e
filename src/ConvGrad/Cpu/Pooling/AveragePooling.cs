using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ConvGrad.Cpu.Pooling;

/// <summary>
/// Average pooling on <see cref="PoolPlanes"/> (NCHW or channel-blocked storage), count_include_pad on:
/// <c>y[o] = (1/k²)·Σ_window x</c>, padding counted as zeros; its gradient adds <c>dy[o]/k²</c> over the window. And
/// global average pooling, <c>y[n, c] = (1/P)·Σ_p x[n, c, p]</c> over the P spatial positions, with its gradient
/// <c>dx[n, c, p] = dy[n, c]/P</c>.
/// </summary>
internal static class AveragePooling
{
    /// <summary>Pools <paramref name="x"/> into <paramref name="y"/>.</summary>
    public static void Forward<T>(ReadOnlySpan<T> x, Span<T> y, PoolPlanes planes, int ho, int wo, PoolWindow win)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        PoolingWindows.CheckLengths(planes, ho, wo, x.Length, y.Length);
        T inv = T.One / T.CreateChecked(win.Kernel * win.Kernel);
        if (typeof(T) == typeof(float) && planes.Lanes % Vector256<float>.Count == 0)
        {
            var op = new MeanOfLanes8(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y), float.CreateTruncating(inv));
            PoolingWindows.Walk(planes, ho, wo, win, ref op);
        }
        else
        {
            var op = new MeanOfLane<T>(x, y, inv);
            PoolingWindows.Walk(planes, ho, wo, win, ref op);
        }
    }

    /// <summary>The gradient of <see cref="Forward{T}"/>: each <c>dy[o]/k²</c> added over its window of the zeroed <paramref name="dx"/>.</summary>
    public static void Backward<T>(ReadOnlySpan<T> dy, Span<T> dx, PoolPlanes planes, int ho, int wo, PoolWindow win)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        PoolingWindows.CheckLengths(planes, ho, wo, dx.Length, dy.Length);
        T inv = T.One / T.CreateChecked(win.Kernel * win.Kernel);
        if (typeof(T) == typeof(float) && planes.Lanes % Vector256<float>.Count == 0)
        {
            var op = new SpreadOfLanes8(MemoryMarshal.Cast<T, float>(dy), MemoryMarshal.Cast<T, float>(dx), float.CreateTruncating(inv));
            PoolingWindows.Walk(planes, ho, wo, win, ref op);
        }
        else
        {
            var op = new SpreadOfLane<T>(dy, dx, inv);
            PoolingWindows.Walk(planes, ho, wo, win, ref op);
        }
    }

    /// <summary>
    /// Global average pooling of <c>[N, ⌈C/lanes⌉, spatial, lanes]</c> storage (<paramref name="lanes"/> = 1: NCHW) into
    /// the NCHW means <paramref name="y"/> <c>[N, C]</c>: the features come out in PyTorch's channel order.
    /// </summary>
    public static void GlobalForward<T>(ReadOnlySpan<T> x, Span<T> y, int n, int c, int lanes, int spatial) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int blocks = (c + lanes - 1) / lanes;
        T inv = T.One / T.CreateChecked(spatial);
        Span<T> means = stackalloc T[16];
        for (int img = 0; img < n; img++)
        {
            for (int blk = 0; blk < blocks; blk++)
            {
                var plane = x.Slice((img * blocks + blk) * spatial * lanes, spatial * lanes);
                if (lanes == 1)
                {
                    means[0] = TensorPrimitives.Sum(plane) * inv;
                }
                else if (typeof(T) == typeof(float) && lanes % Vector256<float>.Count == 0)
                {
                    var xs = MemoryMarshal.Cast<T, float>(plane);
                    var ms = MemoryMarshal.Cast<T, float>(means);
                    for (int l = 0; l < lanes; l += Vector256<float>.Count)
                    {
                        var sum = Vector256<float>.Zero;
                        for (int p = 0; p < spatial; p++)
                        {
                            sum += Vector256.Create(xs.Slice(p * lanes + l, Vector256<float>.Count));
                        }
                        (sum * float.CreateTruncating(inv)).CopyTo(ms[l..]);
                    }
                }
                else
                {
                    for (int l = 0; l < lanes; l++)
                    {
                        T sum = T.Zero;
                        for (int p = 0; p < spatial; p++)
                        {
                            sum += plane[p * lanes + l];
                        }
                        means[l] = sum * inv;
                    }
                }
                int real = Math.Min(lanes, c - blk * lanes);
                means[..real].CopyTo(y.Slice(img * c + blk * lanes, real));
            }
        }
    }

    /// <summary>The gradient of <see cref="GlobalForward{T}"/>: <c>dy[n, c]/spatial</c> on every position of the plane, tail lanes zero.</summary>
    public static void GlobalBackward<T>(ReadOnlySpan<T> dy, Span<T> dx, int n, int c, int lanes, int spatial) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int blocks = (c + lanes - 1) / lanes;
        T inv = T.One / T.CreateChecked(spatial);
        Span<T> pixel = stackalloc T[16];
        for (int img = 0; img < n; img++)
        {
            for (int blk = 0; blk < blocks; blk++)
            {
                pixel.Clear();
                int real = Math.Min(lanes, c - blk * lanes);
                for (int l = 0; l < real; l++)
                {
                    pixel[l] = dy[img * c + blk * lanes + l] * inv;
                }
                var plane = dx.Slice((img * blocks + blk) * spatial * lanes, spatial * lanes);
                if (lanes == 1)
                {
                    plane.Fill(pixel[0]);
                    continue;
                }
                for (int p = 0; p < spatial; p++)
                {
                    pixel[..lanes].CopyTo(plane.Slice(p * lanes, lanes));
                }
            }
        }
    }

    /// <summary>One lane at a time, any element type; NCHW rows (pitch 1) are summed by <see cref="TensorPrimitives.Sum{T}(ReadOnlySpan{T})"/>.</summary>
    private ref struct MeanOfLane<T>(ReadOnlySpan<T> x, Span<T> y, T inv) : IWindowOp where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly ReadOnlySpan<T> _x = x;
        private readonly Span<T> _y = y;
        private T _sum;

        public readonly int LanesPerStep => 1;

        public void Begin(int output, int first) => _sum = T.Zero;

        public void Row(int start, int count, int pitch)
        {
            if (pitch == 1)
            {
                _sum += TensorPrimitives.Sum(_x.Slice(start, count));
                return;
            }
            for (int c = 0, at = start; c < count; c++, at += pitch)
            {
                _sum += _x[at];
            }
        }

        public readonly void End(int output) => _y[output] = _sum * inv;
    }

    /// <summary>Eight float lanes of a channel block at once.</summary>
    private ref struct MeanOfLanes8(ReadOnlySpan<float> x, Span<float> y, float inv) : IWindowOp
    {
        private readonly ReadOnlySpan<float> _x = x;
        private readonly Span<float> _y = y;
        private Vector256<float> _sum;

        public readonly int LanesPerStep => Vector256<float>.Count;

        public void Begin(int output, int first) => _sum = Vector256<float>.Zero;

        public void Row(int start, int count, int pitch)
        {
            for (int c = 0, at = start; c < count; c++, at += pitch)
            {
                _sum += Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(_x), (nuint)at);
            }
        }

        public readonly void End(int output) => (_sum * inv).StoreUnsafe(ref MemoryMarshal.GetReference(_y), (nuint)output);
    }

    /// <summary>The gradient one lane at a time; NCHW rows (pitch 1) take the add by <see cref="TensorPrimitives.Add{T}(ReadOnlySpan{T}, T, Span{T})"/>.</summary>
    private ref struct SpreadOfLane<T>(ReadOnlySpan<T> dy, Span<T> dx, T inv) : IWindowOp where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly ReadOnlySpan<T> _dy = dy;
        private readonly Span<T> _dx = dx;
        private T _v;

        public readonly int LanesPerStep => 1;

        public void Begin(int output, int first) => _v = _dy[output] * inv;

        public readonly void Row(int start, int count, int pitch)
        {
            if (pitch == 1)
            {
                var row = _dx.Slice(start, count);
                TensorPrimitives.Add(row, _v, row);
                return;
            }
            for (int c = 0, at = start; c < count; c++, at += pitch)
            {
                _dx[at] += _v;
            }
        }

        public readonly void End(int output)
        {
        }
    }

    /// <summary>The gradient on eight float lanes of a channel block at once.</summary>
    private ref struct SpreadOfLanes8(ReadOnlySpan<float> dy, Span<float> dx, float inv) : IWindowOp
    {
        private readonly ReadOnlySpan<float> _dy = dy;
        private readonly Span<float> _dx = dx;
        private Vector256<float> _v;

        public readonly int LanesPerStep => Vector256<float>.Count;

        public void Begin(int output, int first) => _v = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(_dy), (nuint)output) * inv;

        public readonly void Row(int start, int count, int pitch)
        {
            ref float d = ref MemoryMarshal.GetReference(_dx);
            for (int c = 0, at = start; c < count; c++, at += pitch)
            {
                (Vector256.LoadUnsafe(ref d, (nuint)at) + _v).StoreUnsafe(ref d, (nuint)at);
            }
        }

        public readonly void End(int output)
        {
        }
    }
}
