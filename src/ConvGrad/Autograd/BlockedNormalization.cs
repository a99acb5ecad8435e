using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ConvGrad.Cpu;

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
        var b = x.Blocking!;
        int n = b.N, c = b.C, cb = b.ChannelBlocks, bs = b.BlockSize;
        long m = (long)n * b.Spatial;
        if (training && m < 2)
        {
            throw new ArgumentException($"batch norm in training mode needs more than one value per channel; got input {Shapes.Format(b.LogicalShape)}", nameof(x));
        }
        if (!training && (runningMean is null || runningVar is null))
        {
            throw new ArgumentException("batch norm in evaluation mode needs the running statistics", nameof(runningMean));
        }
        var xhat = Empty<float>(x.Shape);
        var y = Empty<float>(x.Shape);
        int padded = cb * bs;
        var work = new BatchNormPlanes(b, Ptr(x.Value), Ptr(xhat), Ptr(y));
        var mean = work.Mean;
        var variance = new float[padded];
        float mt = m, mom = (float)momentum;
        if (training)
        {
            work.Run(BatchNormPlanes.Phase.Sum);
            work.Reduce(mean, null);
            for (int i = 0; i < padded; i++)
            {
                mean[i] /= mt;
            }
            work.Run(BatchNormPlanes.Phase.CenteredSquares);
            work.Reduce(variance, null);
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
        invStd.CopyTo(work.Scale, 0);
        weight.Value.ReadOnlySpan.CopyTo(work.Gamma);
        bias.Value.ReadOnlySpan.CopyTo(work.Beta);
        work.Run(BatchNormPlanes.Phase.Normalize);
        bool records = GradMode.IsEnabled && (x.RequiresGrad || weight.RequiresGrad || bias.RequiresGrad);
        if (!records)
        {
            ScopedTensors<float>.Recycle(xhat);
            return new Variable<float>(y) { Blocking = b };
        }
        return new Variable<float>(y, new BlockedBatchNormNode(x, weight, bias, xhat, invStd, training)) { Blocking = b };
    }

    private sealed class BlockedBatchNormNode(Variable<float> x, Variable<float> weight, Variable<float> bias, Tensor<float> xhat, float[] invStd, bool batchStats)
        : Node<float>(x, weight, bias)
    {
        private Tensor<float>? _xhat = xhat;

        public override string Name => "NativeBatchNormBackward";

        protected override unsafe void Backward(Tensor<float> dy)
        {
            var b = Inputs[0].Blocking!;
            int c = b.C, padded = b.ChannelBlocks * b.BlockSize;
            float mt = (long)b.N * b.Spatial;
            var gamma = Inputs[1].Value.ReadOnlySpan;
            var dgamma = Empty<float>(c);
            var dbeta = Empty<float>(c);
            var dx = NeedsGrad(0) ? Empty<float>(dy.Shape) : null;
            var work = new BatchNormPlanes(b, Ptr(dy), Ptr(_xhat!), dx is null ? null : Ptr(dx));
            work.Run(BatchNormPlanes.Phase.GradientSums);
            var sumDy = new float[padded];
            var sumDyX = new float[padded];
            work.Reduce(sumDy, sumDyX);
            sumDy.AsSpan(0, c).CopyTo(dbeta.Span);
            sumDyX.AsSpan(0, c).CopyTo(dgamma.Span);
            if (dx is not null)
            {
                // dx = scale·dy − scale·Σdy/M − (scale·Σdy·x̂/M)·x̂, scale = γ/σ; the tail lanes have scale 0 and get 0.
                for (int ch = 0; ch < c; ch++)
                {
                    float s = gamma[ch] * invStd[ch];
                    work.Scale[ch] = s;
                    work.Beta[ch] = batchStats ? -s * sumDy[ch] / mt : 0f;
                    work.Gamma[ch] = batchStats ? -s * sumDyX[ch] / mt : 0f;
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

        protected override void Release()
        {
            ScopedTensors<float>.Recycle(_xhat!);
            _xhat = null;
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
        private readonly float* _a, _b, _out;
        private readonly float[] _partial, _partial2;
        private Phase _phase;

        /// <param name="blocking">The layout.</param>
        /// <param name="a">x (forward) or dy (backward).</param>
        /// <param name="b">x̂ (written in the forward pass, read in the backward pass).</param>
        /// <param name="output">y (forward) or dx (backward; may be null).</param>
        public BatchNormPlanes(ActivationBlocking blocking, float* a, float* b, float* output)
        {
            (_n, _cb, _bs, _spatial, _threads) = (blocking.N, blocking.ChannelBlocks, blocking.BlockSize, blocking.Spatial, Math.Max(1, blocking.Threads));
            _a = a;
            _b = b;
            _out = output;
            int padded = _cb * _bs;
            Mean = new float[padded];
            Scale = new float[padded];
            Gamma = new float[padded];
            Beta = new float[padded];
            _partial = new float[_n * padded];
            _partial2 = new float[_n * padded];
        }

        public enum Phase { Sum, CenteredSquares, Normalize, GradientSums, InputGradient }

        /// <summary>μ per padded channel.</summary>
        public float[] Mean { get; }

        /// <summary>1/σ (forward) or γ/σ (backward) per padded channel.</summary>
        public float[] Scale { get; }

        /// <summary>γ (forward) or the x̂ coefficient of dx (backward).</summary>
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
                        Plane(_a + offset, _b + offset, _out == null ? null : _out + offset, mean, scale, gamma, beta, partial, partial2, 0);
                        Plane(_a + offset, _b + offset, _out == null ? null : _out + offset, mean, scale, gamma, beta, partial, partial2, 8);
                    }
                    else
                    {
                        Plane(_a + offset, _b + offset, _out == null ? null : _out + offset, mean, scale, gamma, beta, partial, partial2, 0);
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
                case Phase.Sum:
                {
                    var s = Vector256<float>.Zero;
                    for (int i = 0; i < spatial; i++)
                    {
                        s += Vector256.Load(a + (long)i * bs);
                    }
                    s.Store(partial + l);
                    break;
                }
                case Phase.CenteredSquares:
                {
                    var mu = Vector256.Load(mean + l);
                    var s = Vector256<float>.Zero;
                    for (int i = 0; i < spatial; i++)
                    {
                        var d = Vector256.Load(a + (long)i * bs) - mu;
                        s += d * d;
                    }
                    s.Store(partial + l);
                    break;
                }
                case Phase.Normalize:
                {
                    Vector256<float> mu = Vector256.Load(mean + l), inv = Vector256.Load(scale + l), g = Vector256.Load(gamma + l), be = Vector256.Load(beta + l);
                    for (int i = 0; i < spatial; i++)
                    {
                        long at = (long)i * bs;
                        var h = (Vector256.Load(a + at) - mu) * inv;
                        h.Store(b + at);
                        (h * g + be).Store(output + at);
                    }
                    break;
                }
                case Phase.GradientSums:
                {
                    Vector256<float> s = Vector256<float>.Zero, sx = Vector256<float>.Zero;
                    for (int i = 0; i < spatial; i++)
                    {
                        long at = (long)i * bs;
                        var d = Vector256.Load(a + at);
                        s += d;
                        sx += d * Vector256.Load(b + at);
                    }
                    s.Store(partial + l);
                    sx.Store(partial2 + l);
                    break;
                }
                default:
                {
                    Vector256<float> sc = Vector256.Load(scale + l), t = Vector256.Load(beta + l), k = Vector256.Load(gamma + l);
                    for (int i = 0; i < spatial; i++)
                    {
                        long at = (long)i * bs;
                        (Vector256.Load(a + at) * sc + t + Vector256.Load(b + at) * k).Store(output + at);
                    }
                    break;
                }
            }
        }
    }
}
