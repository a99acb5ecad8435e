using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ConvGrad.Cpu.Blocked;

/// <summary>The passes of blocked batch norm over its planes.</summary>
internal enum BatchNormPhase
{
    /// <summary>Each plane's sum and squared deviations from its own mean.</summary>
    Statistics,

    /// <summary><c>y = (x − μ)·scale + β</c>.</summary>
    Normalize,

    /// <summary>Each plane's <c>Σ dy</c> and <c>Σ dy·(x − μ)</c>.</summary>
    GradientSums,

    /// <summary><c>dx = dy·scale + t + (x − μ)·k</c>.</summary>
    InputGradient,
}

/// <summary>
/// The per-plane passes of blocked batch norm; one work item is one (image, channel block) plane of
/// <c>spatial × B</c> elements, read pixel by pixel with all B lanes at once. Per-channel vectors are padded to whole
/// blocks (zero past C). The formulas are those of batch normalisation (Functional.BatchNorm); float64 (gradient checks)
/// runs the same loops on four-lane vectors.
/// </summary>
internal sealed unsafe class BatchNormPlanes<T> : IPartitionedWork where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Planes below this many elements in all run on the calling thread.</summary>
    private const long ParallelThreshold = 1 << 15;

    private readonly int _n, _cb, _bs, _spatial, _threads;
    private readonly T* _a, _out, _x;
    private readonly T[] _partial, _partial2;
    private BatchNormPhase _phase;

    /// <param name="blocking">The layout.</param>
    /// <param name="threads">Threads to split the planes over (0: one per processor).</param>
    /// <param name="a">x (forward) or dy (backward).</param>
    /// <param name="output">y (forward) or dx (backward; null when dx is not needed).</param>
    /// <param name="x">x in the backward pass (null in the forward pass, where it is <paramref name="a"/>).</param>
    public BatchNormPlanes(ChannelBlocking blocking, int threads, T* a, T* output, T* x = null)
    {
        (_n, _cb, _bs, _spatial, _threads) = (blocking.N, blocking.ChannelBlocks, blocking.BlockSize, blocking.Spatial, threads > 0 ? threads : Environment.ProcessorCount);
        _a = a;
        _out = output;
        _x = x == null ? a : x;
        int padded = _cb * _bs;
        Mean = new T[padded];
        Scale = new T[padded];
        Gamma = new T[padded];
        Beta = new T[padded];
        _partial = new T[_n * padded];
        _partial2 = new T[_n * padded];
    }

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
        for (int item = begin; item < end; item++)
        {
            int blk = item % _cb;
            long offset = (long)item * _spatial * _bs;
            int lane = blk * _bs;
            fixed (T* partial = &_partial[item * _bs], partial2 = &_partial2[item * _bs])
            fixed (T* mean = &Mean[lane], scale = &Scale[lane], gamma = &Gamma[lane], beta = &Beta[lane])
            {
                for (int l = 0; l < _bs; l += Vector256<T>.Count)
                {
                    Plane(_a + offset, _x + offset, _out == null ? null : _out + offset, mean, scale, gamma, beta, partial, partial2, l);
                }
            }
        }
    }

    /// <summary>One phase on the lanes <c>[l, l + Vector256&lt;T&gt;.Count)</c> of one plane (the vectors of one pixel run back to back, so the plane stays in cache).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Plane(T* a, T* b, T* output, T* mean, T* scale, T* gamma, T* beta, T* partial, T* partial2, int l)
    {
        int bs = _bs, spatial = _spatial;
        a += l; b += l;
        if (output != null)
        {
            output += l;
        }
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
                s.Store(partial + l);
                q.Store(partial2 + l);
                break;
            }
            case BatchNormPhase.Normalize:
            {
                Vector256<T> mu = Vector256.Load(mean + l), sc = Vector256.Load(scale + l), be = Vector256.Load(beta + l);
                for (int i = 0; i < spatial; i++)
                {
                    long at = (long)i * bs;
                    ((Vector256.Load(a + at) - mu) * sc + be).Store(output + at);
                }
                break;
            }
            case BatchNormPhase.GradientSums:
            {
                Vector256<T> mu = Vector256.Load(mean + l), s = Vector256<T>.Zero, sx = Vector256<T>.Zero;
                for (int i = 0; i < spatial; i++)
                {
                    long at = (long)i * bs;
                    var d = Vector256.Load(a + at);
                    s += d;
                    sx += d * (Vector256.Load(b + at) - mu);
                }
                s.Store(partial + l);
                sx.Store(partial2 + l);
                break;
            }
            default:
            {
                Vector256<T> mu = Vector256.Load(mean + l), sc = Vector256.Load(scale + l), t = Vector256.Load(beta + l), k = Vector256.Load(gamma + l);
                for (int i = 0; i < spatial; i++)
                {
                    long at = (long)i * bs;
                    (Vector256.Load(a + at) * sc + t + (Vector256.Load(b + at) - mu) * k).Store(output + at);
                }
                break;
            }
        }
    }
}
