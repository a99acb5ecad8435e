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
        var cases = new (string What, int[] X, int[] W, int Groups, ConvPass Pass, ConvKernel Expected, string NameStart, string Phrase)[]
        {
            ("3x3 conv forward", [2, 16, 12, 12], [24, 16, 3, 3], 1, ConvPass.Forward, ConvKernel.Gemm, "gemm", "implicit-im2col GEMM"),
            ("3x3 conv dX", [2, 16, 12, 12], [24, 16, 3, 3], 1, ConvPass.BackwardData, ConvKernel.Gemm, "gemm", "by stride phases"),
            ("3x3 conv dW", [2, 16, 12, 12], [24, 16, 3, 3], 1, ConvPass.BackwardWeight, ConvKernel.Gemm, "gemm", "backward-weight as one GEMM"),
            ("3-channel dX", [2, 3, 20, 20], [8, 3, 5, 5], 1, ConvPass.BackwardData,
                tier >= IsaTier.Avx2 ? ConvKernel.FewChannelsBackwardData : ConvKernel.Gemm,
                tier >= IsaTier.Avx2 ? "dx-few-channels" : "gemm",
                tier >= IsaTier.Avx2 ? "computes backward-data directly" : "by stride phases"),
            ("depthwise forward", [2, 16, 10, 10], [16, 1, 3, 3], 16, ConvPass.Forward, ConvKernel.Depthwise, "depthwise-", "Depthwise convolution"),
        };
        var rng = new Random(17);
        foreach (var c in cases)
        {
            var g = new ConvGeometry([1, 1], [1, 1], [1, 1], [1, 1], c.Groups);
            var p = ConvProblem.ForConv(g, c.X, c.W);
            var plan = ConvPlan.Create(p, c.Pass, tier, 2);
            Assert.Equal(c.Expected, plan.Kernel);
            Assert.StartsWith(c.NameStart, plan.Name, StringComparison.Ordinal);
            Assert.EndsWith(" " + tierName, plan.Name, StringComparison.Ordinal);
            if (plan.Kernel == ConvKernel.Gemm)
            {
                Assert.Equal(ConvPlan.GemmName(tier), plan.Name);
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
        }
    }

    /// <summary>A plan cannot be forced onto a kernel that cannot compute the problem.</summary>
    [Fact]
    public void WithKernel_RefusesAKernelThatDoesNotApply()
    {
        var p = ConvProblem.ForConv(ConvGeometry.Uniform(2, stride: 1), [1, 8, 6, 6], [4, 8, 3, 3]);
        Assert.Throws<ArgumentException>(() => ConvPlan.WithKernel(p, ConvPass.Forward, IsaTier.Portable, ConvKernel.Depthwise, 1));
        Assert.Throws<ArgumentException>(() => ConvPlan.WithKernel(p, ConvPass.BackwardData, IsaTier.Avx2, ConvKernel.FewChannelsBackwardData, 1));
    }
}
