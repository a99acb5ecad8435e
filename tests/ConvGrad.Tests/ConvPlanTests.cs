using ConvGrad.Cpu;

namespace ConvGrad.Tests;

/// <summary>Plans: the kernel chosen once per (problem, pass, tier), its name and description, and that the one-shot calls run that plan.</summary>
public class ConvPlanTests
{
    public static TheoryData<ConvIsa> Tiers() => IsaTierCases.Data();

    private static Tensor<float> Random(Random rng, int[] shape)
    {
        var t = Tensor<float>.Uninitialized(shape);
        foreach (ref float v in t.Span)
        {
            v = (float)(rng.NextDouble() * 2 - 1);
        }
        return t;
    }

    /// <summary>
    /// For a GEMM layer, a 3-channel first layer and a depthwise layer: the plan picks the kernel the dispatch rules say,
    /// names it with the tier, describes it, and the public call's result is bit for bit the plan's own run.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(Tiers))]
    public void Plan_NamesAndDescribesTheKernelThatRuns(ConvIsa isa)
    {
        var tier = IsaTierCases.Tier(isa);
        var options = IsaTierCases.Fast(isa, 2);
        string tierName = IsaTiers.Name(tier);
        bool blocked = tier >= IsaTier.Avx2;
        var direct = blocked ? ConvKernel.DirectBlocked : ConvKernel.Gemm;
        string directName = blocked ? "direct-blocked" : "gemm";
        var cases = new (string What, int[] X, int[] W, int Groups, ConvPass Pass, ConvKernel Expected, string NameStart, string Phrase)[]
        {
            ("3x3 conv forward", [2, 16, 12, 12], [24, 16, 3, 3], 1, ConvPass.Forward, direct, directName, blocked ? "channel-blocked layout" : "implicit-im2col GEMM"),
            ("3x3 conv dX", [2, 16, 12, 12], [24, 16, 3, 3], 1, ConvPass.BackwardData, direct, directName, blocked ? "direct backward-data" : "by stride phases"),
            ("3x3 conv dW", [2, 16, 12, 12], [24, 16, 3, 3], 1, ConvPass.BackwardWeight, direct, directName, blocked ? "direct backward-weight" : "backward-weight as one GEMM"),
            ("1x1 conv forward", [2, 32, 8, 8], [16, 32, 1, 1], 1, ConvPass.Forward, ConvKernel.Gemm, "gemm", "implicit-im2col GEMM"),
            ("grouped forward, channels not whole blocks", [2, 24, 12, 12], [24, 12, 3, 3], 2, ConvPass.Forward, ConvKernel.Gemm, "gemm", "implicit-im2col GEMM"),
            ("grouped dW, channels not whole blocks", [2, 24, 12, 12], [24, 12, 3, 3], 2, ConvPass.BackwardWeight, ConvKernel.Gemm, "gemm", "backward-weight as one GEMM"),
            ("3-channel dX", [2, 3, 20, 20], [8, 3, 5, 5], 1, ConvPass.BackwardData,
                tier >= IsaTier.Avx2 ? ConvKernel.FewChannelsBackwardData : ConvKernel.Gemm,
                tier >= IsaTier.Avx2 ? "dx-few-channels" : "gemm",
                tier >= IsaTier.Avx2 ? "computes backward-data directly" : "by stride phases"),
            ("depthwise forward", [2, 16, 10, 10], [16, 1, 3, 3], 16, ConvPass.Forward, tier >= IsaTier.Avx2 ? ConvKernel.DepthwiseBlocked8 : ConvKernel.DepthwiseRows, "depthwise-", "Depthwise convolution"),
            ("3-channel forward", [2, 3, 20, 20], [8, 3, 5, 5], 1, ConvPass.Forward, ConvKernel.Gemm, "gemm", "implicit-im2col GEMM"),
            ("1-channel dW", [4, 1, 30, 30], [40, 1, 3, 3], 1, ConvPass.BackwardWeight, blocked ? ConvKernel.FirstLayer : ConvKernel.Gemm, blocked ? "direct-flat" : "gemm", blocked ? "first-layer backward-weight from the plain NCHW input" : "backward-weight as one GEMM"),
            ("1-channel dW, tiny", [1, 1, 6, 6], [4, 1, 3, 3], 1, ConvPass.BackwardWeight, ConvKernel.Gemm, "gemm", "backward-weight as one GEMM"),
        };
        var rng = new Random(17);
        foreach (var c in cases)
        {
            var g = new ConvGeometry([1, 1], [1, 1], [1, 1], [1, 1], c.Groups);
            var p = ConvProblem.ForConv(g, c.X, c.W);
            var plan = ConvPlanner.Plan(p, c.Pass, tier, 2);
            Assert.Equal(c.Expected, plan.Kernel);
            Assert.StartsWith(c.NameStart, plan.Name, StringComparison.Ordinal);
            Assert.Contains(" " + tierName, plan.Name, StringComparison.Ordinal);
            if (plan.Kernel == ConvKernel.Gemm)
            {
                Assert.Equal(ConvPlanner.GemmName(tier), plan.Name);
            }
            string text = plan.Describe();
            Assert.Contains(c.Phrase, text, StringComparison.Ordinal);
            Assert.EndsWith($"Kernel: {plan.Name}.", text, StringComparison.Ordinal);
            Assert.True(plan.WorkspaceBytes > 0, c.What);
            Assert.Equal(plan.WorkspaceBytes, FastBackend.For(tier).WorkspaceBytes(p, c.Pass, 2));

            // The one-shot public call runs this very plan: the same bits.
            var x = Random(rng, c.X);
            var w = Random(rng, c.W);
            var dy = Random(rng, p.OutputShape);
            float[] viaApi, viaPlan;
            switch (c.Pass)
            {
                case ConvPass.Forward:
                    viaApi = Conv.Forward(x, w, null, g, options).ToArray();
                    viaPlan = new float[viaApi.Length];
                    plan.Run(x.ReadOnlySpan, w.ReadOnlySpan, default, viaPlan);
                    break;
                case ConvPass.BackwardData:
                    viaApi = Conv.BackwardData(dy, w, g, c.X, options).ToArray();
                    viaPlan = new float[viaApi.Length];
                    plan.Run(dy.ReadOnlySpan, w.ReadOnlySpan, default, viaPlan);
                    break;
                default:
                    viaApi = Conv.BackwardWeight(x, dy, g, c.W, options).ToArray();
                    viaPlan = new float[viaApi.Length];
                    plan.Run(x.ReadOnlySpan, dy.ReadOnlySpan, default, viaPlan);
                    break;
            }
            Assert.Equal(viaApi, viaPlan);
            Assert.Equal(viaApi, RunNamedKernel(plan, x, w, dy));
        }
    }

    /// <summary>
    /// The pass computed by the kernel the plan's name says, run by itself: the blocked plan of that name on converted
    /// tensors, or the plan forced onto the named NCHW kernel. The public call must reproduce it bit for bit.
    /// </summary>
    private static float[] RunNamedKernel(ConvPlan plan, Tensor<float> x, Tensor<float> w, Tensor<float> dy)
    {
        var p = plan.Problem;
        if (plan.Name.StartsWith("direct-flat", StringComparison.Ordinal))
        {
            int block = plan.Name.StartsWith("direct-flat16", StringComparison.Ordinal) ? 16 : 8;
            var kernel = new Cpu.Blocked.BlockedConvPlan(p, block);
            Assert.Equal(plan.Name, kernel.FlatName(plan.Pass));
            kernel.SetWeights(w.ReadOnlySpan, default);
            if (plan.Pass == ConvPass.Forward)
            {
                var by = new BlockedTensor(p.OutputShape, block);
                kernel.ForwardFromNchw(x.ReadOnlySpan, by, plan.Threads);
                return by.ToNchw(1).ToArray();
            }
            var dw = new float[w.Span.Length];
            kernel.BackwardWeightFromNchw(x.ReadOnlySpan, BlockedTensor.FromNchw(dy, block, 1), dw, plan.Threads);
            return dw;
        }
        if (plan.Name.StartsWith("direct-blocked", StringComparison.Ordinal))
        {
            int block = plan.Name.StartsWith("direct-blocked16", StringComparison.Ordinal) ? 16 : 8;
            var kernel = new Cpu.Blocked.BlockedConvPlan(p, block);
            Assert.Equal(plan.Name, kernel.Name(plan.Pass));
            kernel.SetWeights(w.ReadOnlySpan, default);
            var bx = BlockedTensor.FromNchw(x, block, 1);
            var bdy = BlockedTensor.FromNchw(dy, block, 1);
            switch (plan.Pass)
            {
                case ConvPass.Forward:
                    var by = new BlockedTensor(p.OutputShape, block);
                    kernel.Forward(bx, by, plan.Threads);
                    return by.ToNchw(1).ToArray();
                case ConvPass.BackwardData:
                    var bdx = new BlockedTensor(p.InputShape, block);
                    kernel.BackwardData(bdy, bdx, plan.Threads);
                    return bdx.ToNchw(1).ToArray();
                default:
                    var dw = new float[w.Span.Length];
                    kernel.BackwardWeight(bx, bdy, dw, plan.Threads);
                    return dw;
            }
        }
        var own = ConvPlanner.WithKernel(p, plan.Pass, plan.Tier, plan.Kernel, plan.Threads);
        Assert.Equal(plan.Name, own.Name);
        var a = plan.Pass == ConvPass.BackwardData ? dy : x;
        var b = plan.Pass == ConvPass.BackwardWeight ? dy : w;
        var output = new float[plan.Pass switch { ConvPass.Forward => dy.Span.Length, ConvPass.BackwardData => x.Span.Length, _ => w.Span.Length }];
        own.Run(a.ReadOnlySpan, b.ReadOnlySpan, default, output);
        return output;
    }

    /// <summary>A plan cannot be forced onto a kernel that cannot compute the problem.</summary>
    [Fact]
    public void WithKernel_RefusesAKernelThatDoesNotApply()
    {
        var p = ConvProblem.ForConv(ConvGeometry.Uniform(2, stride: 1), [1, 8, 6, 6], [4, 8, 3, 3]);
        Assert.Throws<ArgumentException>(() => ConvPlanner.WithKernel(p, ConvPass.Forward, IsaTier.Portable, ConvKernel.DepthwiseRows, 1));
        Assert.Throws<ArgumentException>(() => ConvPlanner.WithKernel(p, ConvPass.BackwardData, IsaTier.Avx2, ConvKernel.FewChannelsBackwardData, 1));
    }
}
