using ConvGrad.Cpu;
using ConvGrad.Cpu.Blocked;

namespace ConvGrad.Cli;

/// <summary>
/// The <c>blocked</c> layout of <c>convgrad bench</c>: tensors already in the channel-blocked layout (16 channels per block
/// on AVX-512, 8 on AVX2) and a <see cref="BlockedConvPlan"/> made once with its weights reblocked, as oneDNN is timed
/// (reorders outside the timing). A first layer (one group, 1-3 input channels) reads its input as plain NCHW, as a
/// network's first layer does (forward and dW on the first-layer kernels; dX, which a network never needs there, on the
/// blocked tensors). Rows the blocked kernels do not cover (the portable tier, another engine or a device,
/// groups that are not whole blocks, depthwise with a multiplier) are not timed in this layout.
/// </summary>
internal static class BlockedBench
{
    /// <summary>The block the fast engine's tier uses, or 0 when this configuration has no blocked kernels.</summary>
    public static int BlockSize(ConvOptions options, bool device) =>
        device || options.Engine != ConvEngine.Fast ? 0 : BlockedNchw.BlockSize(IsaTiers.Resolve(options.MaxIsa));

    /// <summary>Times each pass of <paramref name="row"/> on blocked tensors; nothing when the blocked kernels do not cover it.</summary>
    public static IEnumerable<(BenchPass Pass, double Ms, long Workspace, string Kernel)> Measure(
        BenchRow row, BenchPass[] passes, ConvOptions options, int block, double minTime, Func<Random, int[], Tensor<float>> random)
    {
        var p = ConvProblem.ForConv(row.Geometry, row.InputShape, row.WeightShape);
        if (block == 0 || !BlockedConv.Applies(p, ConvPass.Forward, block))
        {
            yield break;
        }
        int threads = options.EffectiveThreads;
        var rng = new Random(row.Name.Length * 7919 + row.C);
        var xNchw = random(rng, p.InputShape);
        var x = BlockedTensor.FromNchw(xNchw, block, threads);
        var w = random(rng, p.WeightShape);
        var dy = BlockedTensor.FromNchw(random(rng, p.OutputShape), block, threads);
        var plan = new BlockedConvPlan(p, block);
        plan.SetWeights(w.ReadOnlySpan, default);
        bool flat = plan.ReadsNchw;
        foreach (var pass in passes)
        {
            Action call;
            ConvPass convPass;
            switch (pass)
            {
                case BenchPass.Forward:
                    var y = new BlockedTensor(p.OutputShape, block);
                    call = flat ? () => plan.ForwardFromNchw(xNchw.ReadOnlySpan, y, threads) : () => plan.Forward(x, y, threads);
                    convPass = ConvPass.Forward;
                    break;
                case BenchPass.BackwardData:
                    var dx = new BlockedTensor(p.InputShape, block);
                    call = () => plan.BackwardData(dy, dx, threads);
                    convPass = ConvPass.BackwardData;
                    break;
                default:
                    var dw = new float[w.Span.Length];
                    call = flat ? () => plan.BackwardWeightFromNchw(xNchw.ReadOnlySpan, dy, dw, threads) : () => plan.BackwardWeight(x, dy, dw, threads);
                    convPass = ConvPass.BackwardWeight;
                    break;
            }
            double ms = BenchCommand.MedianSeconds(call, minTime) * 1e3;
            bool flatPass = flat && convPass != ConvPass.BackwardData;
            yield return flatPass
                ? (pass, ms, FlatInput.WorkspaceBytes(plan.Geometry, convPass, threads), plan.FlatName(convPass))
                : (pass, ms, BlockedNchw.KernelWorkspaceBytes(p, convPass, block, threads), plan.Name(convPass));
        }
    }
}
