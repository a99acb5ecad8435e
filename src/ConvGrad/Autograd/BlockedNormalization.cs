using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ConvGrad.Cpu;
using ConvGrad.Cpu.Blocked;

namespace ConvGrad.Autograd;

public static partial class Functional
{
    /// <summary>
    /// Batch normalisation of the blocked storage <c>[N, ⌈C/B⌉, spatial..., B]</c>, the B channels of a pixel as vector
    /// lanes: the formulas of <see cref="BatchNorm{T}"/> with two-pass statistics. Each (image, channel block) plane is
    /// summed lane-wise on its own (planes split over the threads of the layer that made x) and the per-image sums are added in image
    /// order, so the result does not depend on the thread count. The padded lanes have γ = β = 0 and mean 0, so y, x̂ and
    /// dx stay exactly zero there.
    /// </summary>
    private static unsafe Variable<float> BlockedBatchNorm(Variable<float> x, Variable<float> weight, Variable<float> bias, Tensor<float>? runningMean, Tensor<float>? runningVar,
        bool training, double momentum, double eps)
    {
        var b = ChannelBlocking.Of(x.Value);
        int n = b.N, c = b.C, cb = b.ChannelBlocks, bs = b.BlockSize;
        long m = (long)n * b.Spatial;
        if (training && m < 2)
        {
            throw new ArgumentException($"batch norm in training mode needs more than one value per channel; got input {Layout(x)}", nameof(x));
        }
        if (!training && (runningMean is null || runningVar is null))
        {
            throw new ArgumentException("batch norm in evaluation mode needs the running statistics", nameof(runningMean));
        }
        var y = EmptyLike(x);
        int padded = cb * bs;
        var work = new BatchNormPlanes(b, x.Threads, Ptr(x.Value), Ptr(y));
        var mean = work.Mean;
        var variance = new float[padded];
        float mt = m, mom = (float)momentum;
        if (training)
        {
            // One read of x: each plane's sum and squared deviations from its own mean (a second pass over a plane
            // still in cache), the planes combined in image order (Chan et al.'s pairwise update).
            work.Run(BatchNormPlanes.Phase.Statistics);
            work.Combine(mean, variance);
            for (int i = 0; i < padded; i++)
            {
                variance[i] /= mt;
            }
            if (runningMean is not null && runningVar is not null)
            {
                var rm = runningMean.Span;
                var rv = runningVar.Span;
                for (int ch = 0; ch < c; ch++)
                {
                    rm[ch] = (1f - mom) * rm[ch] + mom * mean[ch];
                    rv[ch] = (1f - mom) * rv[ch] + mom * variance[ch] * mt / (mt - 1f);
                }
            }
        }
        else
        {
            runningMean!.ReadOnlySpan.CopyTo(mean);
            runningVar!.ReadOnlySpan.CopyTo(variance);
        }
        var invStd = new float[padded];
        for (int i = 0; i < padded; i++)
        {
            invStd[i] = 1f / MathF.Sqrt(variance[i] + (float)eps);
        }
        // y = (x − μ)·(γ/σ) + β.
        var gamma = weight.Value.ReadOnlySpan;
        for (int ch = 0; ch < c; ch++)
        {
            work.Scale[ch] = gamma[ch] * invStd[ch];
        }
        bias.Value.ReadOnlySpan.CopyTo(work.Beta);
        work.Run(BatchNormPlanes.Phase.Normalize);
        bool records = GradMode.IsEnabled && (x.RequiresGrad || weight.RequiresGrad || bias.RequiresGrad);
        if (!records)
        {
            return new Variable<float>(y) { Threads = x.Threads };
        }
        // x̂ is not stored: the backward pass recomputes x − μ from x, which the graph keeps anyway.
        return new Variable<float>(y, new BlockedBatchNormNode(x, weight, bias, mean.ToArray(), invStd, training)) { Threads = x.Threads };
    }

    private sealed class BlockedBatchNormNode(Variable<float> x, Variable<float> weight, Variable<float> bias, float[] mean, float[] invStd, bool batchStats)
        : Node<float>(x, weight, bias)
    {

        public override string Name => "NativeBatchNormBackward";

        protected override unsafe void Backward(Tensor<float> dy)
        {
            var b = ChannelBlocking.Of(Inputs[0].Value);
            int c = b.C, padded = b.ChannelBlocks * b.BlockSize;
            float mt = (long)b.N * b.Spatial;
            var gamma = Inputs[1].Value.ReadOnlySpan;
            var dgamma = Empty<float>(c);
            var dbeta = Empty<float>(c);
            var dx = NeedsGrad(0) ? EmptyLike(dy) : null;
            var work = new BatchNormPlanes(b, Inputs[0].Threads, Ptr(dy), dx is null ? null : Ptr(dx), Ptr(Inputs[0].Value));
            mean.CopyTo(work.Mean, 0);
            work.Run(BatchNormPlanes.Phase.GradientSums);
            var sumDy = new float[padded];
            var sumDyX = new float[padded];
            work.Reduce(sumDy, sumDyX);
            for (int i = 0; i < padded; i++)
            {
                // Σ dy·x̂ = (1/σ)·Σ dy·(x − μ).
                sumDyX[i] *= invStd[i];
            }
            sumDy.AsSpan(0, c).CopyTo(dbeta.Span);
            sumDyX.AsSpan(0, c).CopyTo(dgamma.Span);
            if (dx is not null)
            {
                // dx = scale·dy − scale·Σdy/M − (scale·Σdy·x̂/M)·x̂, scale = γ/σ, x̂ = (x − μ)/σ; the tail lanes have scale 0 and get 0.
                for (int ch = 0; ch < c; ch++)
                {
                    float s = gamma[ch] * invStd[ch];
                    work.Scale[ch] = s;
                    work.Beta[ch] = batchStats ? -s * sumDy[ch] / mt : 0f;
                    work.Gamma[ch] = batchStats ? -s * sumDyX[ch] / mt * invStd[ch] : 0f;
                }
                work.Run(BatchNormPlanes.Phase.InputGradient);
            }
            if (NeedsGrad(1))
            {
                Propagate(1, dgamma, owned: true);
            }
            if (NeedsGrad(2))
            {
                Propagate(2, dbeta, owned: true);
            }
            if (dx is not null)
            {
                Propagate(0, dx, owned: true);
            }
        }

    }

    /// <summary>
    /// The per-plane passes of blocked batch norm; one work item is one (image, channel block) plane of
    /// <c>spatial × B</c> floats, read pixel by pixel with all B lanes at once. Per-channel vectors are padded to whole
    /// blocks (zero past C).
    /// </summary>
    private sealed unsafe class BatchNormPlanes : IPartitionedWork
    {
        /// <summary>Planes below this many floats in all run on the calling thread.</summary>
        private const long ParallelThreshold = 1 << 15;

        private readonly int _n, _cb, _bs, _spatial, _threads;
        private readonly float* _a, _out, _x;
        private readonly float[] _partial, _partial2;
        private Phase _phase;

        /// <param name="blocking">The layout.</param>
        /// <param name="threads">Threads to split the planes over (0: one per processor).</param>
        /// <param name="a">x (forward) or dy (backward).</param>
        /// <param name="output">y (forward) or dx (backward; null when dx is not needed).</param>
        /// <param name="x">x in the backward pass (null in the forward pass, where it is <paramref name="a"/>).</param>
        public BatchNormPlanes(ChannelBlocking blocking, int threads, float* a, float* output, float* x = null)
        {
            (_n, _cb, _bs, _spatial, _threads) = (blocking.N, blocking.ChannelBlocks, blocking.BlockSize, blocking.Spatial, threads > 0 ? threads : Environment.ProcessorCount);
            _a = a;
            _out = output;
            _x = x == null ? a : x;
            int padded = _cb * _bs;
            Mean = new float[padded];
            Scale = new float[padded];
            Gamma = new float[padded];
            Beta = new float[padded];
            _partial = new float[_n * padded];
            _partial2 = new float[_n * padded];
        }

        public enum Phase { Statistics, Normalize, GradientSums, InputGradient }

        /// <summary>μ per padded channel.</summary>
        public float[] Mean { get; }

        /// <summary>γ/σ per padded channel.</summary>
        public float[] Scale { get; }

        /// <summary>The (x − μ) coefficient of dx (backward).</summary>
        public float[] Gamma { get; }

        /// <summary>β (forward) or the constant term of dx (backward).</summary>
        public float[] Beta { get; }

        public void Run(Phase phase)
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
        public void Combine(float[] mean, float[] squares)
        {
            int padded = _cb * _bs;
            float nb = _spatial;
            for (int i = 0; i < padded; i++)
            {
                float mu = 0, m2 = 0, na = 0;
                for (int img = 0; img < _n; img++)
                {
                    float planeMean = _partial[img * padded + i] / nb;
                    float delta = planeMean - mu;
                    float total = na + nb;
                    mu += delta * nb / total;
                    m2 += _partial2[img * padded + i] + delta * delta * na * nb / total;
                    na = total;
                }
                mean[i] = mu;
                squares[i] = m2;
            }
        }

        /// <summary>The per-image partial sums added in image order into <paramref name="sum"/> (and the second set into <paramref name="sum2"/>).</summary>
        public void Reduce(float[] sum, float[]? sum2)
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
                fixed (float* partial = &_partial[item * _bs], partial2 = &_partial2[item * _bs])
                fixed (float* mean = &Mean[lane], scale = &Scale[lane], gamma = &Gamma[lane], beta = &Beta[lane])
                {
                    if (_bs == 16)
                    {
                        Plane(_a + offset, _x + offset, _out == null ? null : _out + offset, mean, scale, gamma, beta, partial, partial2, 0);
                        Plane(_a + offset, _x + offset, _out == null ? null : _out + offset, mean, scale, gamma, beta, partial, partial2, 8);
                    }
                    else
                    {
                        Plane(_a + offset, _x + offset, _out == null ? null : _out + offset, mean, scale, gamma, beta, partial, partial2, 0);
                    }
                }
            }
        }

        /// <summary>One phase on lanes <c>[l, l + 8)</c> of one plane (for B = 16 the two halves of each 64-byte pixel run back to back, so the plane stays in cache).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Plane(float* a, float* b, float* output, float* mean, float* scale, float* gamma, float* beta, float* partial, float* partial2, int l)
        {
            int bs = _bs, spatial = _spatial;
            a += l; b += l;
            if (output != null)
            {
                output += l;
            }
            switch (_phase)
            {
                case Phase.Statistics:
                {
                    var s = Vector256<float>.Zero;
                    for (int i = 0; i < spatial; i++)
                    {
                        s += Vector256.Load(a + (long)i * bs);
                    }
                    var mu = s / (float)spatial;
                    var q = Vector256<float>.Zero;
                    for (int i = 0; i < spatial; i++)
                    {
                        var d = Vector256.Load(a + (long)i * bs) - mu;
                        q += d * d;
                    }
                    s.Store(partial + l);
                    q.Store(partial2 + l);
                    break;
                }
                case Phase.Normalize:
                {
                    Vector256<float> mu = Vector256.Load(mean + l), sc = Vector256.Load(scale + l), be = Vector256.Load(beta + l);
                    for (int i = 0; i < spatial; i++)
                    {
                        long at = (long)i * bs;
                        ((Vector256.Load(a + at) - mu) * sc + be).Store(output + at);
                    }
                    break;
                }
                case Phase.GradientSums:
                {
                    Vector256<float> mu = Vector256.Load(mean + l), s = Vector256<float>.Zero, sx = Vector256<float>.Zero;
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
                    Vector256<float> mu = Vector256.Load(mean + l), sc = Vector256.Load(scale + l), t = Vector256.Load(beta + l), k = Vector256.Load(gamma + l);
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
}
