using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ConvGrad.Cpu.Pooling;

/// <summary>
/// 2-D max pooling on <see cref="PoolPlanes"/> (NCHW or channel-blocked storage): <c>y[o] = max over the window of x</c>
/// and <c>argmax[o]</c> = the storage offset of the FIRST maximum in row-major order, a NaN counting as the maximum
/// (PyTorch's CPU rule). The gradient sends each <c>dy[o]</c> to <c>argmax[o]</c>; an element that wins several windows
/// collects their sum.
/// </summary>
internal static class MaxPooling
{
    /// <summary>Pools <paramref name="x"/> into <paramref name="y"/>, recording <paramref name="argmax"/>.</summary>
    public static void Forward<T>(ReadOnlySpan<T> x, Span<T> y, Span<int> argmax, PoolPlanes planes, int ho, int wo, PoolWindow win)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        PoolingWindows.CheckLengths(planes, ho, wo, x.Length, Math.Min(y.Length, argmax.Length));
        if (typeof(T) == typeof(float) && planes.Lanes % Vector256<float>.Count == 0)
        {
            var op = new MaxOfLanes8(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y), argmax);
            PoolingWindows.Walk(planes, ho, wo, win, ref op);
        }
        else if (planes.Lanes == 1 && win.IsTwoByTwo)
        {
            TwoByTwo(x, y, argmax, planes, ho, wo);
        }
        else
        {
            var op = new MaxOfLane<T>(x, y, argmax);
            PoolingWindows.Walk(planes, ho, wo, win, ref op);
        }
    }

    /// <summary>The gradient: <c>dx[argmax[o]] += dy[o]</c> into the zeroed <paramref name="dx"/>.</summary>
    public static void Backward<T>(ReadOnlySpan<T> dy, Span<T> dx, ReadOnlySpan<int> argmax) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int o = 0; o < dy.Length; o++)
        {
            dx[argmax[o]] += dy[o];
        }
    }

    /// <summary>Whether <paramref name="v"/> replaces the running maximum <paramref name="m"/>: larger, or a NaN over a number.</summary>
    private static bool Takes<T>(T v, T m) where T : IFloatingPointIeee754<T> => v > m || (T.IsNaN(v) && !T.IsNaN(m));

    /// <summary>
    /// NCHW 2×2, stride 2, unpadded (LeNet's pooling): the same scan order and tie rule as the walk, with the four
    /// reads of each window written out because no window is clipped.
    /// </summary>
    private static void TwoByTwo<T>(ReadOnlySpan<T> xs, Span<T> ys, Span<int> arg, PoolPlanes planes, int ho, int wo)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int h = planes.H, w = planes.W;
        for (int pl = 0; pl < planes.Count; pl++)
        {
            for (int i = 0; i < ho; i++)
            {
                int top = pl * h * w + 2 * i * w;
                var row0 = xs.Slice(top, w);
                var row1 = xs.Slice(top + w, w);
                int o = (pl * ho + i) * wo;
                for (int j = 0; j < wo; j++)
                {
                    int c = 2 * j;
                    T m = row0[c];
                    int best = top + c;
                    if (Takes(row0[c + 1], m)) { m = row0[c + 1]; best = top + c + 1; }
                    if (Takes(row1[c], m)) { m = row1[c]; best = top + w + c; }
                    if (Takes(row1[c + 1], m)) { m = row1[c + 1]; best = top + w + c + 1; }
                    ys[o + j] = m;
                    arg[o + j] = best;
                }
            }
        }
    }

    /// <summary>One lane at a time, any element type (float64 gradient checks, NCHW).</summary>
    private ref struct MaxOfLane<T>(ReadOnlySpan<T> x, Span<T> y, Span<int> argmax) : IWindowOp where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly ReadOnlySpan<T> _x = x;
        private readonly Span<T> _y = y;
        private readonly Span<int> _argmax = argmax;
        private T _m;
        private int _best;

        public readonly int LanesPerStep => 1;

        public void Begin(int output, int first)
        {
            _m = _x[first];
            _best = first;
        }

        public void Row(int start, int count, int pitch)
        {
            for (int c = 0, at = start; c < count; c++, at += pitch)
            {
                if (Takes(_x[at], _m))
                {
                    _m = _x[at];
                    _best = at;
                }
            }
        }

        public readonly void End(int output)
        {
            _y[output] = _m;
            _argmax[output] = _best;
        }
    }

    /// <summary>Eight float lanes of a channel block at once: the per-lane rule as masks.</summary>
    private ref struct MaxOfLanes8(ReadOnlySpan<float> x, Span<float> y, Span<int> argmax) : IWindowOp
    {
        private static readonly Vector256<int> Iota = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        private readonly ReadOnlySpan<float> _x = x;
        private readonly Span<float> _y = y;
        private readonly Span<int> _argmax = argmax;
        private Vector256<float> _m;
        private Vector256<int> _best;

        public readonly int LanesPerStep => Vector256<float>.Count;

        public void Begin(int output, int first)
        {
            _m = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(_x), (nuint)first);
            _best = Vector256.Create(first) + Iota;
        }

        public void Row(int start, int count, int pitch)
        {
            for (int c = 0, at = start; c < count; c++, at += pitch)
            {
                var v = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(_x), (nuint)at);
                // The first maximum in row-major order wins ties; a NaN counts as the maximum.
                var take = Vector256.GreaterThan(v, _m) | (~Vector256.Equals(v, v) & Vector256.Equals(_m, _m));
                _m = Vector256.ConditionalSelect(take, v, _m);
                _best = Vector256.ConditionalSelect(take.AsInt32(), Vector256.Create(at) + Iota, _best);
            }
        }

        public readonly void End(int output)
        {
            _m.StoreUnsafe(ref MemoryMarshal.GetReference(_y), (nuint)output);
            _best.StoreUnsafe(ref MemoryMarshal.GetReference(_argmax), (nuint)output);
        }
    }
}
