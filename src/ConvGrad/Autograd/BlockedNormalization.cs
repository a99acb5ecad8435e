using System.Numerics;
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
    private static unsafe Variable<T> BlockedBatchNorm<T>(Variable<T> x, Variable<T> weight, Variable<T> bias, Tensor<T>? runningMean, Tensor<T>? runningVar,
        bool training, double momentum, double eps, OpCall<T> call) where T : unmanaged, IFloatingPointIeee754<T>
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
        var work = new BatchNormPlanes<T>(b, call.Threads, Ptr(x.Value), Ptr(y));
        var mean = work.Mean;
        var variance = new T[padded];
        T mt = T.CreateChecked(m), mom = T.CreateChecked(momentum);
        if (training)
        {
            // One read of x: each plane's sum and squared deviations from its own mean (a second pass over a plane
            // still in cache), the planes combined in image order (Chan et al.'s pairwise update).
            work.Run(BatchNormPhase.Statistics);
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
                    rm[ch] = (T.One - mom) * rm[ch] + mom * mean[ch];
                    rv[ch] = (T.One - mom) * rv[ch] + mom * variance[ch] * mt / (mt - T.One);
                }
            }
        }
        else
        {
            runningMean!.ReadOnlySpan.CopyTo(mean);
            runningVar!.ReadOnlySpan.CopyTo(variance);
        }
        var invStd = new T[padded];
        for (int i = 0; i < padded; i++)
        {
            invStd[i] = T.One / T.Sqrt(variance[i] + T.CreateChecked(eps));
        }
        // y = (x − μ)·(γ/σ) + β.
        var gamma = weight.Value.ReadOnlySpan;
        for (int ch = 0; ch < c; ch++)
        {
            work.Scale[ch] = gamma[ch] * invStd[ch];
        }
        bias.Value.ReadOnlySpan.CopyTo(work.Beta);
        work.Run(BatchNormPhase.Normalize);
        bool records = GradMode.IsEnabled && (x.RequiresGrad || weight.RequiresGrad || bias.RequiresGrad);
        if (!records)
        {
            return call.Output(y);
        }
        // x̂ is not stored: the backward pass recomputes x − μ from x, which the graph keeps anyway.
        return call.Output(y, new BlockedBatchNormNode<T>(x, weight, bias, mean.ToArray(), invStd, training, call.Threads));
    }

    private sealed class BlockedBatchNormNode<T>(Variable<T> x, Variable<T> weight, Variable<T> bias, T[] mean, T[] invStd, bool batchStats, int threads)
        : Node<T>(x, weight, bias) where T : unmanaged, IFloatingPointIeee754<T>
    {

        public override string Name => "NativeBatchNormBackward";

        protected override unsafe void Backward(Tensor<T> dy)
        {
            var b = ChannelBlocking.Of(Inputs[0].Value);
            int c = b.C, padded = b.ChannelBlocks * b.BlockSize;
            T mt = T.CreateChecked((long)b.N * b.Spatial);
            var gamma = Inputs[1].Value.ReadOnlySpan;
            var dgamma = Empty<T>(c);
            var dbeta = Empty<T>(c);
            var dx = NeedsGrad(0) ? EmptyLike(dy) : null;
            var work = new BatchNormPlanes<T>(b, threads, Ptr(dy), dx is null ? null : Ptr(dx), Ptr(Inputs[0].Value));
            mean.CopyTo(work.Mean, 0);
            work.Run(BatchNormPhase.GradientSums);
            var sumDy = new T[padded];
            var sumDyX = new T[padded];
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
                    T s = gamma[ch] * invStd[ch];
                    work.Scale[ch] = s;
                    work.Beta[ch] = batchStats ? -s * sumDy[ch] / mt : T.Zero;
                    work.Gamma[ch] = batchStats ? -s * sumDyX[ch] / mt * invStd[ch] : T.Zero;
                }
                work.Run(BatchNormPhase.InputGradient);
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
}
