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
    /// <remarks>
    /// Fused (<paramref name="relu"/>): <c>y = relu(bn(x) [+ residual])</c> in the same pass, the ReLU's mask taken from
    /// y in the backward pass (<see cref="BatchNormRelu{T}"/>).
    /// </remarks>
    private static unsafe Variable<T> BlockedBatchNorm<T>(Variable<T> x, Variable<T> weight, Variable<T> bias, Tensor<T>? runningMean, Tensor<T>? runningVar,
        bool training, double momentum, double eps, OpCall<T> call, bool relu = false, Variable<T>? residual = null) where T : unmanaged, IFloatingPointIeee754<T>
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
        bool records = GradMode.IsEnabled && (x.RequiresGrad || weight.RequiresGrad || bias.RequiresGrad || (residual?.RequiresGrad ?? false));
        // Fused and recorded: the ReLU's mask as bits for the backward pass (1/32 of y's bytes; it reads them instead of y).
        var maskBits = relu && records ? Empty<T>(MaskElements<T>(b)) : null;
        using var work = new BatchNormPlanes<T>(b, call.Threads, Ptr(x.Value), Ptr(y), relu: relu, residual: residual is null ? null : Ptr(residual.Value),
            bits: maskBits is null ? null : (ushort*)Ptr(maskBits));
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
        if (!records)
        {
            return call.Output(y);
        }
        // x̂ is not stored: the backward pass recomputes x − μ from x, which the graph keeps anyway; fused, the mask bits
        // carry the ReLU's mask.
        Variable<T>[] inputs = residual is null ? [x, weight, bias] : [x, weight, bias, residual];
        return call.Output(y, new BlockedBatchNormNode<T>(inputs, mean.ToArray(), invStd, training, call.Threads, maskBits));
    }

    /// <summary>Elements of T that hold the ReLU's mask words of <paramref name="b"/> (<see cref="BatchNormPlanes{T}.MaskWords"/>, 2 bytes each).</summary>
    private static unsafe int MaskElements<T>(ChannelBlocking b) where T : unmanaged, IFloatingPointIeee754<T> =>
        checked((int)((BatchNormPlanes<T>.MaskWords(b) * sizeof(ushort) + sizeof(T) - 1) / sizeof(T)));

    /// <summary>
    /// <c>relu(batch_norm(x) [+ residual])</c>, one operation on the channel-blocked layout: one pass normalises, adds and
    /// clamps, and the backward passes take the ReLU's mask from the output, so the ReLU and the add cost no pass of their
    /// own (PyTorch's fused batch-norm + ReLU of oneDNN). Bitwise the result and gradients of
    /// <c>Relu(Add(BatchNorm(x), residual))</c>, which it runs instead when x is not blocked, the shapes differ, a trace is
    /// open (an exporter sees the three operations) or anomaly mode is on (it names each one).
    /// </summary>
    internal static Variable<T> BatchNormRelu<T>(Variable<T> x, Variable<T> weight, Variable<T> bias, Tensor<T>? runningMean, Tensor<T>? runningVar,
        bool training, double momentum, double eps, Variable<T>? residual) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(bias);
        if (!x.IsChannelBlocked || OpTrace.IsOpen || AnomalyMode.IsEnabled || (residual is not null && !residual.Shape.SequenceEqual(x.Shape))
            || weight.Value.Rank != 1 || weight.Value.Dim(0) != x.Value.Dim(1) || !bias.Shape.SequenceEqual(weight.Shape))
        {
            var h = BatchNorm(x, weight, bias, runningMean, runningVar, training, momentum, eps);
            return Relu(residual is null ? h : Add(h, residual));
        }
        using var profiled = OpProfiler.Time(ProfiledOp.BatchNormRelu);
        var call = Dispatch.Prepare(Computes.AnyFormat, ref x);
        if (residual is not null)
        {
            residual = ToFormat(residual, call.Format, call.Threads);
        }
        return BlockedBatchNorm(x, weight, bias, runningMean, runningVar, training, momentum, eps, call, relu: true, residual);
    }

    /// <summary>
    /// The backward rule of blocked batch norm, and of its fusion with the ReLU after it (<paramref name="maskBits"/>: the
    /// fused output's mask <c>y &gt; 0</c> as bits, which masks dy) and the residual added before that ReLU (a fourth
    /// input, which gets the masked dy, as the add would pass it on).
    /// </summary>
    private sealed class BlockedBatchNormNode<T>(Variable<T>[] inputs, T[] mean, T[] invStd, bool batchStats, int threads, Tensor<T>? maskBits)
        : Node<T>(inputs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        private Tensor<T>? _maskBits = maskBits;
        private readonly bool _fused = maskBits is not null;

        public override string Name => _fused ? "BatchNormReluBackward" : "NativeBatchNormBackward";

        protected override void Release()
        {
            if (_maskBits is { } bits)
            {
                _maskBits = null;
                ScopedTensors<T>.Recycle(bits);
            }
        }

        protected override unsafe void Backward(Tensor<T> dy)
        {
            var b = ChannelBlocking.Of(Inputs[0].Value);
            int c = b.C, padded = b.ChannelBlocks * b.BlockSize;
            T mt = T.CreateChecked((long)b.N * b.Spatial);
            var gamma = Inputs[1].Value.ReadOnlySpan;
            var dgamma = Empty<T>(c);
            var dbeta = Empty<T>(c);
            // Fused with a residual: the masked dy (the add's gradient) is stored by the sums' pass, given to the residual
            // and read back by the dx pass in place of dy and the mask. When dy is this node's alone, the masked dy (with a
            // residual) or else dx is written over it, element by element after reading it: no fresh buffer to fill, which
            // saves a read of each line for ownership and keeps one activation-sized buffer fewer in cache.
            bool residual = Inputs.Count > 3;
            bool overwrite = MayOverwriteGradient;
            var masked = residual ? (overwrite ? dy : EmptyLike(dy)) : null;
            var dx = NeedsGrad(0) ? (overwrite && !residual ? dy : EmptyLike(dy)) : null;
            using var work = new BatchNormPlanes<T>(b, threads, Ptr(dy), dx is null ? null : Ptr(dx), Ptr(Inputs[0].Value),
                bits: _maskBits is null ? null : (ushort*)Ptr(_maskBits), masked: masked is null ? null : Ptr(masked));
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
                if (ReferenceEquals(dx, dy))
                {
                    PropagateInPlace(0, dx);
                }
                else
                {
                    Propagate(0, dx, owned: true);
                }
            }
            if (masked is not null)
            {
                if (NeedsGrad(3))
                {
                    if (ReferenceEquals(masked, dy))
                    {
                        PropagateInPlace(3, masked);
                    }
                    else
                    {
                        Propagate(3, masked, owned: true);
                    }
                }
                else if (!ReferenceEquals(masked, dy))
                {
                    ScopedTensors<T>.Recycle(masked);
                }
            }
        }
    }
}
