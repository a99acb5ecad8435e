namespace ConvGrad.Cli;

/// <summary>
/// The <c>blocked</c> layout of <c>convgrad bench</c>: tensors already in the channel-blocked layout (16 channels per block
/// on AVX-512, 8 on AVX2) and a <see cref="ConvPrimitive"/> planned once with its weights reblocked, as oneDNN is timed
/// (reorders outside the timing). A first layer (one group, 1-3 input channels) reads its input as plain NCHW, as a
/// network's first layer does (forward and dW on the first-layer kernels; dX, which a network never needs there, on the
/// blocked tensors). Rows the blocked kernels do not cover (the portable tier, another engine or a device,
/// groups that are not whole blocks, depthwise with a multiplier) are not timed in this layout.
/// </summary>
internal static class BlockedBench
{
    /// <summary>The block the fast engine's tier uses, or 0 when this configuration has no blocked kernels.</summary>
    public static int BlockSize(ConvOptions options, bool device) =>
        device ? 0 : ConvPrimitive.BlockSizeFor(options);

    /// <summary>Times each pass of <paramref name="row"/> on blocked tensors; nothing when the blocked kernels do not cover it.</summary>
    public static IEnumerable<(BenchPass Pass, double Ms, long Workspace, string Kernel)> Measure(
        BenchRow row, BenchPass[] passes, ConvOptions options, int block, double minTime, Func<Random, int[], Tensor<float>> random)
    {
        var p = ConvProblem.ForConv(row.Geometry, row.InputShape, row.WeightShape);
        if (block == 0 || !ConvPrimitive.Supports(p, options))
        {
            yield break;
        }
        int threads = options.EffectiveThreads;
        var rng = new Random(row.Name.Length * 7919 + row.C);
        var xNchw = random(rng, row.InputShape);
        var x = BlockedTensor.FromNchw(xNchw, block, threads);
        var w = random(rng, row.WeightShape);
        var dy = BlockedTensor.FromNchw(random(rng, p.YShape.ToArray()), block, threads);
        var kernels = new ConvPrimitive(row.Geometry, row.InputShape, row.WeightShape, options);
        kernels.SetWeights(w);
        foreach (var pass in passes)
        {
            Action call;
            ConvPass convPass = pass switch { BenchPass.Forward => ConvPass.Forward, BenchPass.BackwardData => ConvPass.BackwardData, _ => ConvPass.BackwardWeight };
            // The planner's plan in bench's blocked layout (a first layer's forward and dW read x as NCHW, as a network feeds it).
            var plan = kernels.Plan(convPass);
            bool flat = plan.ReadsNchwInput;
            switch (pass)
            {
                case BenchPass.Forward:
                    var y = new BlockedTensor(p.YShape, block);
                    call = flat ? () => kernels.Forward(xNchw, y) : () => kernels.Forward(x, y);
                    break;
                case BenchPass.BackwardData:
                    var dx = new BlockedTensor(p.XShape, block);
                    call = () => kernels.BackwardData(dy, dx);
                    break;
                default:
                    var dw = Tensor<float>.Uninitialized(row.WeightShape);
                    call = flat ? () => kernels.BackwardWeight(xNchw, dy, dw) : () => kernels.BackwardWeight(x, dy, dw);
                    break;
            }
            double ms = BenchCommand.MedianSeconds(call, minTime) * 1e3;
            yield return (pass, ms, plan.WorkspaceBytes, plan.Kernel);
        }
    }
}
