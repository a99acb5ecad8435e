using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ConvGrad.Cpu.Blocked;

/// <summary>The passes of blocked batch norm over its planes.</summary>
internal enum BatchNormPhase
{
    /// <summary>Each plane's sum and squared deviations from its own mean.</summary>
    Statistics,

    /// <summary><c>y = (x − μ)·scale + β</c>; fused: <c>y = max((x − μ)·scale + β [+ r], 0)</c>.</summary>
    Normalize,

    /// <summary>Each plane's <c>Σ g</c> and <c>Σ g·(x − μ)</c>, g = dy (fused: <c>dy·[y &gt; 0]</c>, the mask read from its bits; g stored when asked).</summary>
    GradientSums,

    /// <summary><c>dx = g·scale + t + (x − μ)·k</c>, g as in <see cref="GradientSums"/> (read back where that pass stored it).</summary>
    InputGradient,
}

/// <summary>
/// The per-plane passes of blocked batch norm; one work item is one (image, channel block) plane of
/// <c>spatial × B</c> elements, read pixel by pixel with all B lanes at once (one 512-bit vector per pixel where a block
/// is 64 bytes, else 256-bit vectors lane group by lane group; every lane sums its pixels in the same order either way,
/// so both give the same bits). Per-channel vectors are padded to whole blocks (zero past C). The formulas are those of
/// batch normalisation (Functional.BatchNorm); float64 (gradient checks) runs the same loops.
/// <para>
/// Fused with the ReLU that follows (and the residual added before it, <c>relu(bn(x) + r)</c>): the forward pass writes
/// the ReLU's output and, when a backward pass will follow, the ReLU's mask <c>y &gt; 0</c> as bits (one 16-bit word
/// per pixel of a plane, bit j for lane j: 1/32 of y's bytes); the backward passes read those bits instead of y, so
/// neither the ReLU nor the add makes a pass of its own, and the arithmetic is that of the three operations run one by
/// one (a gradient is kept where <c>y &gt; 0</c> and is +0 elsewhere, as the ReLU's backward gives).
/// </para>
/// </summary>
internal sealed unsafe class BatchNormPlanes<T> : IPartitionedWork, IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Planes below this many elements in all run on the calling thread.</summary>
    private const long ParallelThreshold = 1 << 15;

    private readonly int _n, _cb, _bs, _spatial, _threads;
    private readonly T* _a, _out, _x, _residual, _masked;
    private readonly ushort* _bits;
    private readonly bool _relu;
    /// <summary>Per-(image, padded channel) partial sums, rented for the call (every entry is written before it is read).</summary>
    private T[] _partial, _partial2;
    private BatchNormPhase _phase;

    /// <param name="blocking">The layout.</param>
    /// <param name="threads">Threads to split the planes over (0: one per processor).</param>
    /// <param name="a">x (forward) or dy (backward).</param>
    /// <param name="output">y (forward) or dx (backward; null when dx is not needed).</param>
    /// <param name="x">x in the backward pass (null in the forward pass, where it is <paramref name="a"/>).</param>
    /// <param name="relu">Forward: apply the ReLU (after adding <paramref name="residual"/>, when given).</param>
    /// <param name="residual">Forward and fused: r of <c>relu(bn(x) + r)</c>, or null.</param>
    /// <param name="bits">
    /// The ReLU's mask <c>y &gt; 0</c> as one word per pixel (<see cref="MaskWords"/> of them): written by the fused
    /// forward pass (null: not wanted), read by the fused backward passes to mask dy (null when not fused).
    /// </param>
    /// <param name="masked">Backward and fused: where <see cref="BatchNormPhase.GradientSums"/> stores <c>dy·[y &gt; 0]</c>, or null.</param>
    public BatchNormPlanes(ChannelBlocking blocking, int threads, T* a, T* output, T* x = null, bool relu = false, T* residual = null, ushort* bits = null, T* masked = null)
    {
        (_n, _cb, _bs, _spatial, _threads) = (blocking.N, blocking.ChannelBlocks, blocking.BlockSize, blocking.Spatial, threads > 0 ? threads : Environment.ProcessorCount);
        _a = a;
        _out = output;
        _x = x == null ? a : x;
        _relu = relu;
        _residual = residual;
        _bits = bits;
        _masked = masked;
        int padded = _cb * _bs;
        Mean = new T[padded];
        Scale = new T[padded];
        Gamma = new T[padded];
        Beta = new T[padded];
        // Rented: a ResNet step makes 26 of these, and fresh partials (up to 2 x 16 KiB each) were ~90 % of the step's
        // garbage-collected allocations.
        _partial = ArrayPool<T>.Shared.Rent(_n * padded);
        _partial2 = ArrayPool<T>.Shared.Rent(_n * padded);
    }

    /// <summary>Returns the partial sums' arrays to the shared pool; the passes must not run after it.</summary>
    public void Dispose()
    {
        if (_partial.Length > 0)
        {
            ArrayPool<T>.Shared.Return(_partial);
            ArrayPool<T>.Shared.Return(_partial2);
            _partial = _partial2 = [];
        }
    }

    /// <summary>The words of the ReLU's mask bits for <paramref name="blocking"/>: one per pixel of each (image, channel block) plane.</summary>
    public static long MaskWords(ChannelBlocking blocking) => (long)blocking.N * blocking.ChannelBlocks * blocking.Spatial;

    /// <summary>μ per padded channel.</summary>
    public T[] Mean { get; }

    /// <summary>γ/σ per padded channel.</summary>
    public T[] Scale { get; }

    /// <summary>The (x − μ) coefficient of dx (backward).</summary>
    public T[] Gamma { get; }

    /// <summary>β (forward) or the constant term of dx (backward).</summary>
    public T[] Beta { get; }

    public void Run(BatchNormPhase phase)
    {
        _phase = phase;
        int items = _n * _cb;
        long floats = (long)items * _spatial * _bs;
        int parts = floats < ParallelThreshold ? 1 : Math.Min(items, _threads);
        if (parts <= 1)
        {
            Run(0, 1);
        }
        else
        {
            WorkerPool.Run(this, parts);
        }
    }

    /// <summary>
    /// The per-plane statistics combined in image order into the batch mean and the sum of squared deviations
    /// <paramref name="squares"/> (Chan et al.: merging a block of n values into m already merged moves the mean by
    /// δ·n/(m + n) and adds δ²·m·n/(m + n) to the squares).
    /// </summary>
    public void Combine(T[] mean, T[] squares)
    {
        int padded = _cb * _bs;
        T nb = T.CreateChecked(_spatial);
        for (int i = 0; i < padded; i++)
        {
            T mu = T.Zero, m2 = T.Zero, na = T.Zero;
            for (int img = 0; img < _n; img++)
            {
                T planeMean = _partial[img * padded + i] / nb;
                T delta = planeMean - mu;
                T total = na + nb;
                mu += delta * nb / total;
                m2 += _partial2[img * padded + i] + delta * delta * na * nb / total;
                na = total;
            }
            mean[i] = mu;
            squares[i] = m2;
        }
    }

    /// <summary>The per-image partial sums added in image order into <paramref name="sum"/> (and the second set into <paramref name="sum2"/>).</summary>
    public void Reduce(T[] sum, T[]? sum2)
    {
        int padded = _cb * _bs;
        Array.Clear(sum);
        for (int img = 0; img < _n; img++)
        {
            for (int i = 0; i < padded; i++)
            {
                sum[i] += _partial[img * padded + i];
            }
        }
        if (sum2 is null)
        {
            return;
        }
        Array.Clear(sum2);
        for (int img = 0; img < _n; img++)
        {
            for (int i = 0; i < padded; i++)
            {
                sum2[i] += _partial2[img * padded + i];
            }
        }
    }

    public void Run(int part, int parts)
    {
        int items = _n * _cb;
        int begin = (int)((long)items * part / parts), end = (int)((long)items * (part + 1) / parts);
        bool wide = Vector512.IsHardwareAccelerated && Vector512<T>.Count == _bs;
        for (int item = begin; item < end; item++)
        {
            int blk = item % _cb;
            long offset = (long)item * _spatial * _bs;
            int lane = blk * _bs;
            var planes = new PlanePointers(_a + offset, _x + offset, _out == null ? null : _out + offset, _residual == null ? null : _residual + offset,
                _bits == null ? null : _bits + (long)item * _spatial, _masked == null ? null : _masked + offset);
            fixed (T* partial = &_partial[item * _bs], partial2 = &_partial2[item * _bs])
            fixed (T* mean = &Mean[lane], scale = &Scale[lane], gamma = &Gamma[lane], beta = &Beta[lane])
            {
                var lanes = new LanePointers(mean, scale, gamma, beta, partial, partial2);
                if (wide)
                {
                    Plane512(planes, lanes);
                }
                else
                {
                    for (int l = 0; l < _bs; l += Vector256<T>.Count)
                    {
                        Plane256(planes, lanes, l);
                    }
                }
            }
        }
    }

    /// <summary>The planes of one work item: the pass's input a, x, the output, and the fused pass's residual, mask bits and masked gradient.</summary>
    private readonly struct PlanePointers(T* a, T* x, T* output, T* residual, ushort* bits, T* masked)
    {
        public readonly T* A = a, X = x, Output = output, Residual = residual, Masked = masked;
        public readonly ushort* Bits = bits;
    }

    /// <summary>All ones in the lanes whose bit is set in <paramref name="word"/> (bit j: lane j), zero elsewhere.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Lanes512(uint word) => Vector512<T>.Count == 16
        ? Vector512.Equals(Vector512.Create((int)word) & MaskLanes.Int16, MaskLanes.Int16).As<int, T>()
        : Vector512.Equals(Vector512.Create((long)word) & MaskLanes.Long8, MaskLanes.Long8).As<long, T>();

    /// <summary><see cref="Lanes512"/> for 256-bit vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Lanes256(uint word) => Vector256<T>.Count == 8
        ? Vector256.Equals(Vector256.Create((int)word) & MaskLanes.Int8, MaskLanes.Int8).As<int, T>()
        : Vector256.Equals(Vector256.Create((long)word) & MaskLanes.Long4, MaskLanes.Long4).As<long, T>();

    /// <summary>The per-lane vectors of one channel block, and its partial sums.</summary>
    private readonly struct LanePointers(T* mean, T* scale, T* gamma, T* beta, T* partial, T* partial2)
    {
        public readonly T* Mean = mean, Scale = scale, Gamma = gamma, Beta = beta, Partial = partial, Partial2 = partial2;
    }

    /// <summary>One phase on a whole block of one plane, one 512-bit vector per pixel.</summary>
    private void Plane512(PlanePointers p, LanePointers v)
    {
        int bs = _bs, spatial = _spatial;
        T* a = p.A, x = p.X, output = p.Output, residual = p.Residual, masked = p.Masked;
        ushort* bits = p.Bits;
        switch (_phase)
        {
            case BatchNormPhase.Statistics:
            {
                var s = Vector512<T>.Zero;
                for (int i = 0; i < spatial; i++)
                {
                    s += Vector512.Load(a + (long)i * bs);
                }
                var mu = s / Vector512.Create(T.CreateChecked(spatial));
                var q = Vector512<T>.Zero;
                for (int i = 0; i < spatial; i++)
                {
                    var d = Vector512.Load(a + (long)i * bs) - mu;
                    q += d * d;
                }
                s.Store(v.Partial);
                q.Store(v.Partial2);
                break;
            }
            case BatchNormPhase.Normalize:
            {
                Vector512<T> mu = Vector512.Load(v.Mean), sc = Vector512.Load(v.Scale), be = Vector512.Load(v.Beta);
                if (!_relu)
                {
                    for (int i = 0; i < spatial; i++)
                    {
                        long at = (long)i * bs;
                        ((Vector512.Load(a + at) - mu) * sc + be).Store(output + at);
                    }
                }
                else if (residual == null)
                {
                    for (int i = 0; i < spatial; i++)
                    {
                        long at = (long)i * bs;
                        var y = Vector512.Max((Vector512.Load(a + at) - mu) * sc + be, Vector512<T>.Zero);
                        y.Store(output + at);
                        if (bits != null)
                        {
                            bits[i] = (ushort)Vector512.ExtractMostSignificantBits(Vector512.GreaterThan(y, Vector512<T>.Zero));
                        }
                    }
                }
                else
                {
                    for (int i = 0; i < spatial; i++)
                    {
                        long at = (long)i * bs;
                        var y = Vector512.Max((Vector512.Load(a + at) - mu) * sc + be + Vector512.Load(residual + at), Vector512<T>.Zero);
                        y.Store(output + at);
                        if (bits != null)
                        {
                            bits[i] = (ushort)Vector512.ExtractMostSignificantBits(Vector512.GreaterThan(y, Vector512<T>.Zero));
                        }
                    }
                }
                break;
            }
            case BatchNormPhase.GradientSums:
            {
                Vector512<T> mu = Vector512.Load(v.Mean), s = Vector512<T>.Zero, sx = Vector512<T>.Zero;
                for (int i = 0; i < spatial; i++)
                {
                    long at = (long)i * bs;
                    var d = Vector512.Load(a + at);
                    if (bits != null)
                    {
                        d &= Lanes512(bits[i]);
                        if (masked != null)
                        {
                            d.Store(masked + at);
                        }
                    }
                    s += d;
                    sx += d * (Vector512.Load(x + at) - mu);
                }
                s.Store(v.Partial);
                sx.Store(v.Partial2);
                break;
            }
            default:
            {
                Vector512<T> mu = Vector512.Load(v.Mean), sc = Vector512.Load(v.Scale), t = Vector512.Load(v.Beta), k = Vector512.Load(v.Gamma);
                for (int i = 0; i < spatial; i++)
                {
                    long at = (long)i * bs;
                    Vector512<T> d;
                    if (masked != null)
                    {
                        d = Vector512.Load(masked + at);
                    }
                    else
                    {
                        d = Vector512.Load(a + at);
                        if (bits != null)
                        {
                            d &= Lanes512(bits[i]);
                        }
                    }
                    (d * sc + t + (Vector512.Load(x + at) - mu) * k).Store(output + at);
                }
                break;
            }
        }
    }

    /// <summary>One phase on the lanes <c>[l, l + Vector256&lt;T&gt;.Count)</c> of one plane (the vectors of one pixel run back to back, so the plane stays in cache).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Plane256(PlanePointers p, LanePointers v, int l)
    {
        int bs = _bs, spatial = _spatial;
        T* a = p.A + l, x = p.X + l;
        T* output = p.Output == null ? null : p.Output + l, residual = p.Residual == null ? null : p.Residual + l;
        T* masked = p.Masked == null ? null : p.Masked + l;
        ushort* bits = p.Bits;
        switch (_phase)
        {
            case BatchNormPhase.Statistics:
            {
                var s = Vector256<T>.Zero;
                for (int i = 0; i < spatial; i++)
                {
                    s += Vector256.Load(a + (long)i * bs);
                }
                var mu = s / T.CreateChecked(spatial);
                var q = Vector256<T>.Zero;
                for (int i = 0; i < spatial; i++)
                {
                    var d = Vector256.Load(a + (long)i * bs) - mu;
                    q += d * d;
                }
                s.Store(v.Partial + l);
                q.Store(v.Partial2 + l);
                break;
            }
            case BatchNormPhase.Normalize:
            {
                Vector256<T> mu = Vector256.Load(v.Mean + l), sc = Vector256.Load(v.Scale + l), be = Vector256.Load(v.Beta + l);
                for (int i = 0; i < spatial; i++)
                {
                    long at = (long)i * bs;
                    var y = (Vector256.Load(a + at) - mu) * sc + be;
                    if (_relu)
                    {
                        if (residual != null)
                        {
                            y += Vector256.Load(residual + at);
                        }
                        y = Vector256.Max(y, Vector256<T>.Zero);
                        if (bits != null)
                        {
                            // Lane group l's bits at l..l+Count-1 of the pixel's word (the first group writes it, the others add theirs).
                            uint on = (uint)Vector256.ExtractMostSignificantBits(Vector256.GreaterThan(y, Vector256<T>.Zero)) << l;
                            bits[i] = (ushort)(l == 0 ? on : bits[i] | on);
                        }
                    }
                    y.Store(output + at);
                }
                break;
            }
            case BatchNormPhase.GradientSums:
            {
                Vector256<T> mu = Vector256.Load(v.Mean + l), s = Vector256<T>.Zero, sx = Vector256<T>.Zero;
                for (int i = 0; i < spatial; i++)
                {
                    long at = (long)i * bs;
                    var d = Vector256.Load(a + at);
                    if (bits != null)
                    {
                        d &= Lanes256((uint)bits[i] >> l);
                        if (masked != null)
                        {
                            d.Store(masked + at);
                        }
                    }
                    s += d;
                    sx += d * (Vector256.Load(x + at) - mu);
                }
                s.Store(v.Partial + l);
                sx.Store(v.Partial2 + l);
                break;
            }
            default:
            {
                Vector256<T> mu = Vector256.Load(v.Mean + l), sc = Vector256.Load(v.Scale + l), t = Vector256.Load(v.Beta + l), k = Vector256.Load(v.Gamma + l);
                for (int i = 0; i < spatial; i++)
                {
                    long at = (long)i * bs;
                    Vector256<T> d;
                    if (masked != null)
                    {
                        d = Vector256.Load(masked + at);
                    }
                    else
                    {
                        d = Vector256.Load(a + at);
                        if (bits != null)
                        {
                            d &= Lanes256((uint)bits[i] >> l);
                        }
                    }
                    (d * sc + t + (Vector256.Load(x + at) - mu) * k).Store(output + at);
                }
                break;
            }
        }
    }
}

/// <summary>The lane bits of the ReLU's mask words: lane j of each vector holds <c>1 &lt;&lt; j</c>.</summary>
internal static class MaskLanes
{
    /// <summary>16 int lanes (512-bit vectors of float).</summary>
    public static readonly Vector512<int> Int16 = Vector512.Create(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768);

    /// <summary>8 long lanes (512-bit vectors of double).</summary>
    public static readonly Vector512<long> Long8 = Vector512.Create(1L, 2, 4, 8, 16, 32, 64, 128);

    /// <summary>8 int lanes (256-bit vectors of float).</summary>
    public static readonly Vector256<int> Int8 = Vector256.Create(1, 2, 4, 8, 16, 32, 64, 128);

    /// <summary>4 long lanes (256-bit vectors of double).</summary>
    public static readonly Vector256<long> Long4 = Vector256.Create(1L, 2, 4, 8);
}
