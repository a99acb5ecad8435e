using System.Runtime.Intrinsics;

namespace ConvGrad.Autograd;

public static partial class Functional
{
    /// <summary>
    /// Batch normalisation of the blocked storage <c>[N, ⌈C/B⌉, spatial..., B]</c>, the B channels of a pixel as vector
    /// lanes: the formulas of <see cref="BatchNorm{T}"/> (two-pass statistics, per-image partial sums added in image order,
    /// so the result does not depend on the thread count). The padded lanes have γ = β = 0 and mean 0, so y, x̂ and dx
    /// stay exactly zero there.
    /// </summary>
    private static Variable<float> BlockedBatchNorm(Variable<float> x, Variable<float> weight, Variable<float> bias, Tensor<float>? runningMean, Tensor<float>? runningVar,
        bool training, double momentum, double eps)
    {
        var b = x.Blocking!;
        int n = b.N, c = b.C, cb = b.ChannelBlocks, bs = b.BlockSize, spatial = b.Spatial;
        long m = (long)n * spatial;
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
        var xs = x.Value.ReadOnlySpan;
        var hs = xhat.Span;
        var ys = y.Span;
        var gamma = weight.Value.ReadOnlySpan;
        var beta = bias.Value.ReadOnlySpan;
        int padded = cb * bs;
        var invStd = new float[padded];
        Span<float> mean = stackalloc float[16], var = stackalloc float[16], inv = stackalloc float[16], g = stackalloc float[16], be = stackalloc float[16];
        float mt = m, epsF = (float)eps, mom = (float)momentum;
        for (int blk = 0; blk < cb; blk++)
        {
            int real = Math.Min(bs, c - blk * bs);
            mean.Clear(); var.Clear(); g.Clear(); be.Clear();
            gamma.Slice(blk * bs, real).CopyTo(g);
            beta.Slice(blk * bs, real).CopyTo(be);
            if (training)
            {
                LaneSums(xs, null, n, cb, blk, bs, spatial, mean);
                for (int l = 0; l < bs; l++)
                {
                    mean[l] /= mt;
                }
                // x̂ holds x − μ while the squared deviations are summed.
                Center(xs, hs, n, cb, blk, bs, spatial, mean);
                LaneSums(hs, hs, n, cb, blk, bs, spatial, var);
                for (int l = 0; l < bs; l++)
                {
                    var[l] /= mt;
                }
                if (runningMean is not null && runningVar is not null)
                {
                    var rm = runningMean.Span;
                    var rv = runningVar.Span;
                    for (int l = 0; l < real; l++)
                    {
                        int ch = blk * bs + l;
                        rm[ch] = (1f - mom) * rm[ch] + mom * mean[l];
                        rv[ch] = (1f - mom) * rv[ch] + mom * var[l] * mt / (mt - 1f);
                    }
                }
            }
            else
            {
                runningMean!.ReadOnlySpan.Slice(blk * bs, real).CopyTo(mean);
                runningVar!.ReadOnlySpan.Slice(blk * bs, real).CopyTo(var);
                Center(xs, hs, n, cb, blk, bs, spatial, mean);
            }
            for (int l = 0; l < bs; l++)
            {
                inv[l] = 1f / MathF.Sqrt(var[l] + epsF);
            }
            inv[..bs].CopyTo(invStd.AsSpan(blk * bs));
            for (int img = 0; img < n; img++)
            {
                int o = (img * cb + blk) * spatial * bs;
                for (int l = 0; l < bs; l += 8)
                {
                    var vi = Vector256.Create(inv.Slice(l, 8));
                    var vg = Vector256.Create(g.Slice(l, 8));
                    var vb = Vector256.Create(be.Slice(l, 8));
                    for (int i = 0; i < spatial; i++)
                    {
                        int at = o + i * bs + l;
                        var h = Vector256.Create(hs.Slice(at, 8)) * vi;
                        h.CopyTo(hs.Slice(at, 8));
                        (h * vg + vb).CopyTo(ys.Slice(at, 8));
                    }
                }
            }
        }
        bool records = GradMode.IsEnabled && (x.RequiresGrad || weight.RequiresGrad || bias.RequiresGrad);
        if (!records)
        {
            ScopedTensors<float>.Recycle(xhat);
            return new Variable<float>(y) { Blocking = b };
        }
        return new Variable<float>(y, new BlockedBatchNormNode(x, weight, bias, xhat, invStd, training)) { Blocking = b };
    }

    /// <summary>
    /// <c>sums[l] = Σ_img Σ_i a·b</c> (or <c>Σ a</c> when <paramref name="b"/> is null) over the lanes of channel block
    /// <paramref name="blk"/>: each image's pixels summed lane-wise, the images added in order.
    /// </summary>
    private static void LaneSums(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int n, int cb, int blk, int bs, int spatial, Span<float> sums)
    {
        bool product = !b.IsEmpty;
        for (int l = 0; l < bs; l += 8)
        {
            var total = Vector256<float>.Zero;
            for (int img = 0; img < n; img++)
            {
                int o = (img * cb + blk) * spatial * bs + l;
                var acc = Vector256<float>.Zero;
                for (int i = 0; i < spatial; i++)
                {
                    var va = Vector256.Create(a.Slice(o + i * bs, 8));
                    acc += product ? va * Vector256.Create(b.Slice(o + i * bs, 8)) : va;
                }
                total += acc;
            }
            total.CopyTo(sums[l..]);
        }
    }

    /// <summary><c>h = x − μ</c> lane-wise over channel block <paramref name="blk"/>.</summary>
    private static void Center(ReadOnlySpan<float> xs, Span<float> hs, int n, int cb, int blk, int bs, int spatial, ReadOnlySpan<float> mean)
    {
        for (int l = 0; l < bs; l += 8)
        {
            var mu = Vector256.Create(mean.Slice(l, 8));
            for (int img = 0; img < n; img++)
            {
                int o = (img * cb + blk) * spatial * bs + l;
                for (int i = 0; i < spatial; i++)
                {
                    (Vector256.Create(xs.Slice(o + i * bs, 8)) - mu).CopyTo(hs.Slice(o + i * bs, 8));
                }
            }
        }
    }

    private sealed class BlockedBatchNormNode(Variable<float> x, Variable<float> weight, Variable<float> bias, Tensor<float> xhat, float[] invStd, bool batchStats)
        : Node<float>(x, weight, bias)
    {
        private Tensor<float>? _xhat = xhat;

        public override string Name => "NativeBatchNormBackward";

        protected override void Backward(Tensor<float> dy)
        {
            var b = Inputs[0].Blocking!;
            int n = b.N, c = b.C, cb = b.ChannelBlocks, bs = b.BlockSize, spatial = b.Spatial;
            float mt = (long)n * spatial;
            var hs = _xhat!.ReadOnlySpan;
            var d = dy.ReadOnlySpan;
            var gamma = Inputs[1].Value.ReadOnlySpan;
            var dgamma = Empty<float>(c);
            var dbeta = Empty<float>(c);
            var dx = NeedsGrad(0) ? Empty<float>(dy.Shape) : null;
            Span<float> sumDy = stackalloc float[16], sumDyX = stackalloc float[16];
            Span<float> scale = stackalloc float[16], shift = stackalloc float[16], slope = stackalloc float[16];
            for (int blk = 0; blk < cb; blk++)
            {
                int real = Math.Min(bs, c - blk * bs);
                LaneSums(d, null, n, cb, blk, bs, spatial, sumDy);
                LaneSums(d, hs, n, cb, blk, bs, spatial, sumDyX);
                sumDy[..real].CopyTo(dbeta.Span.Slice(blk * bs));
                sumDyX[..real].CopyTo(dgamma.Span.Slice(blk * bs));
                if (dx is null)
                {
                    continue;
                }
                scale.Clear(); shift.Clear(); slope.Clear();
                for (int l = 0; l < real; l++)
                {
                    float s = gamma[blk * bs + l] * invStd[blk * bs + l];
                    scale[l] = s;
                    shift[l] = batchStats ? -s * sumDy[l] / mt : 0f;
                    slope[l] = batchStats ? -s * sumDyX[l] / mt : 0f;
                }
                var dxs = dx.Span;
                for (int l = 0; l < bs; l += 8)
                {
                    var vs = Vector256.Create(scale.Slice(l, 8));
                    var vt = Vector256.Create(shift.Slice(l, 8));
                    var vk = Vector256.Create(slope.Slice(l, 8));
                    for (int img = 0; img < n; img++)
                    {
                        int o = (img * cb + blk) * spatial * bs + l;
                        for (int i = 0; i < spatial; i++)
                        {
                            int at = o + i * bs;
                            // dx = scale·dy − scale·Σdy/M − (scale·Σdy·x̂/M)·x̂; the tail lanes have scale 0 and get 0.
                            (Vector256.Create(d.Slice(at, 8)) * vs + vt + Vector256.Create(hs.Slice(at, 8)) * vk).CopyTo(dxs.Slice(at, 8));
                        }
                    }
                }
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
}
