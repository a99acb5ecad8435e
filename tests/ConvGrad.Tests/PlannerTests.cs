using ConvGrad.Cli;
using ConvGrad.Cpu;

namespace ConvGrad.Tests;

/// <summary>
/// The planner is the one place that chooses a kernel: for every row of the bench suite, every pass, every tier this
/// machine has and every layout, the kernel that actually ran (recorded by the leaf kernels themselves) is the kernel the
/// planner's plan names.
/// </summary>
public class PlannerTests
{
    private static readonly ConvPass[] Passes = [ConvPass.Forward, ConvPass.BackwardData, ConvPass.BackwardWeight];

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

    private static IReadOnlyList<BenchRow> Suite() => BenchSuite.Load(Path.Combine(TestPaths.RepoRoot, BenchSuite.DefaultRelativePath));

    /// <summary>The public NCHW API runs the kernel the NCHW plan names, on every suite row and pass.</summary>
    [SkippableTheory]
    [MemberData(nameof(Tiers))]
    public void NchwApi_RunsTheKernelThePlanNames(ConvIsa isa)
    {
        var options = IsaTierCases.Fast(isa, 2);
        var tier = IsaTierCases.Tier(isa);
        var rng = new Random(3);
        foreach (var row in Suite())
        {
            var g = row.Geometry;
            var p = ConvProblem.ForConv(g, row.InputShape, row.WeightShape);
            var x = Random(rng, p.InputShape);
            var w = Random(rng, p.WeightShape);
            var dy = Random(rng, p.OutputShape);
            foreach (var pass in Passes)
            {
                var plan = ConvPlanner.Plan(p, pass, tier, PlanLayout.Nchw, options.EffectiveThreads);
                KernelRecord.Clear();
                switch (pass)
                {
                    case ConvPass.Forward:
                        using (Conv.Forward(x, w, null, g, options))
                        {
                        }
                        break;
                    case ConvPass.BackwardData:
                        using (Conv.BackwardData(dy, w, g, p.InputShape, options))
                        {
                        }
                        break;
                    default:
                        using (Conv.BackwardWeight(x, dy, g, p.WeightShape, options))
                        {
                        }
                        break;
                }
                Assert.True(plan.Name == KernelRecord.Last, $"{row.Name} {pass} on {tier}, NCHW: the plan names {plan.Name} but {KernelRecord.Last} ran");
            }
        }
    }

    /// <summary>The public blocked API runs the kernel the blocked plan names (the NCHW plan's when the blocked kernels do not cover the row).</summary>
    [SkippableTheory]
    [MemberData(nameof(Tiers))]
    public void BlockedApi_RunsTheKernelThePlanNames(ConvIsa isa)
    {
        var options = IsaTierCases.Fast(isa, 2);
        var tier = IsaTierCases.Tier(isa);
        int block = ConvPlanner.BlockSize(tier) is var b && b != 0 ? b : 8;
        var rng = new Random(4);
        foreach (var row in Suite())
        {
            var g = row.Geometry;
            var p = ConvProblem.ForConv(g, row.InputShape, row.WeightShape);
            using var xn = Random(rng, p.InputShape);
            using var w = Random(rng, p.WeightShape);
            using var dyn = Random(rng, p.OutputShape);
            var x = BlockedTensor.FromNchw(xn, block, 2);
            var dy = BlockedTensor.FromNchw(dyn, block, 2);
            foreach (var pass in Passes)
            {
                var plan = ConvPlanner.Plan(p, pass, tier, PlanLayout.Blocked, options.EffectiveThreads);
                Assert.Equal(plan.Kernel, ConvPlanner.PlanBlocked(p, pass, block, options).Kernel);
                KernelRecord.Clear();
                switch (pass)
                {
                    case ConvPass.Forward:
                        Conv.Forward(x, w, null, g, new BlockedTensor(p.OutputShape, block), options);
                        break;
                    case ConvPass.BackwardData:
                        Conv.BackwardData(dy, w, g, new BlockedTensor(p.InputShape, block), options);
                        break;
                    default:
                        using (var dw = Tensor<float>.Uninitialized(p.WeightShape))
                        {
                            Conv.BackwardWeight(x, dy, g, dw, options);
                        }
                        break;
                }
                Assert.True(plan.Name == KernelRecord.Last, $"{row.Name} {pass} on {tier}, blocked: the plan names {plan.Name} but {KernelRecord.Last} ran");
            }
        }
    }

    /// <summary>
    /// <c>bench</c>'s blocked rows (a first layer's input as NCHW, as a network feeds it) print the name of the kernel that
    /// ran; rows the blocked kernels do not cover are not timed there.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(Tiers))]
    public void BenchBlockedRows_PrintTheKernelThatRan(ConvIsa isa)
    {
        var options = IsaTierCases.Fast(isa, 2);
        var tier = IsaTierCases.Tier(isa);
        int block = BlockedBench.BlockSize(options, device: false);
        BenchPass[] passes = [BenchPass.Forward, BenchPass.BackwardData, BenchPass.BackwardWeight];
        int timed = 0;
        foreach (var row in Suite())
        {
            var p = ConvProblem.ForConv(row.Geometry, row.InputShape, row.WeightShape);
            foreach (var m in BlockedBench.Measure(row, passes, options, block, 0, Random))
            {
                timed++;
                var layout = m.Pass != BenchPass.BackwardData && ConvPlanner.TakesNchwInput(p) ? PlanLayout.NchwToBlocked : PlanLayout.Blocked;
                Assert.Equal(ConvPlanner.Plan(p, Passes[(int)m.Pass], tier, layout, options.EffectiveThreads).Name, m.Kernel);
                Assert.True(m.Kernel == KernelRecord.Last, $"{row.Name} {m.Pass} on {tier}, bench blocked: bench printed {m.Kernel} but {KernelRecord.Last} ran");
            }
        }
        Assert.Equal(tier == IsaTier.Portable, timed == 0);
    }

    /// <summary>
    /// A primitive (the public blocked plan bench times) computes what the public blocked API computes, bit for bit, and
    /// refuses what it has no kernels for: the portable tier, a grouping of partial blocks, an NCHW input its plan does
    /// not read.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(Tiers))]
    public void Primitive_MatchesTheBlockedApi_AndRefusesWhatItCannotRun(ConvIsa isa)
    {
        var options = IsaTierCases.Fast(isa, 2);
        var g = ConvGeometry.Uniform(2, padding: 1);
        int[] xShape = [2, 16, 9, 9], wShape = [24, 16, 3, 3];
        if (IsaTierCases.Tier(isa) == IsaTier.Portable)
        {
            Assert.Equal(0, ConvPrimitive.BlockSizeFor(options));
            Assert.Equal("options", Assert.Throws<ArgumentException>(() => new ConvPrimitive(g, xShape, wShape, options)).ParamName);
            return;
        }
        var rng = new Random(8);
        using var xn = Random(rng, xShape);
        using var w = Random(rng, wShape);
        var primitive = new ConvPrimitive(g, xShape, wShape, options);
        primitive.SetWeights(w);
        var x = BlockedTensor.FromNchw(xn, primitive.BlockSize, 2);
        var viaPrimitive = new BlockedTensor(primitive.Problem.YShape, primitive.BlockSize);
        var viaApi = new BlockedTensor(primitive.Problem.YShape, primitive.BlockSize);
        KernelRecord.Clear();
        primitive.Forward(x, viaPrimitive);
        Assert.Equal(primitive.Plan(ConvPass.Forward).Kernel, KernelRecord.Last);
        Conv.Forward(x, w, null, g, viaApi, options);
        Assert.Equal(viaApi.Span.ToArray(), viaPrimitive.Span.ToArray());
        Assert.False(primitive.Plan(ConvPass.Forward).ReadsNchwInput);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => primitive.Forward(xn, viaPrimitive)).ParamName);
        var grouped = new ConvGeometry([1, 1], [1, 1], [1, 1], [1, 1], 2);
        Assert.False(ConvPrimitive.Supports(ConvProblem.ForConv(grouped, [1, 12, 6, 6], [12, 6, 3, 3]), options));
        Assert.Throws<ArgumentException>(() => new ConvPrimitive(grouped, [1, 12, 6, 6], [12, 6, 3, 3], options));
    }

    /// <summary>One definition of depthwise: several groups of one input channel each, with any channel multiplier; channel-wise is depthwise with multiplier 1.</summary>
    [Fact]
    public void Depthwise_IsOneInputChannelPerGroupOfSeveral()
    {
        var g = new ConvGeometry([1, 1], [1, 1], [1, 1], [1, 1], 8);
        var channelwise = ConvProblem.ForConv(g, [1, 8, 6, 6], [8, 1, 3, 3]);
        Assert.True(channelwise.IsDepthwise);
        Assert.True(channelwise.IsChannelwise);
        var multiplied = ConvProblem.ForConv(g, [1, 8, 6, 6], [16, 1, 3, 3]);
        Assert.True(multiplied.IsDepthwise);
        Assert.False(multiplied.IsChannelwise);
        Assert.Equal(2, multiplied.ChannelMultiplier);
        var grouped = ConvProblem.ForConv(new ConvGeometry([1, 1], [1, 1], [1, 1], [1, 1], 4), [1, 8, 6, 6], [8, 2, 3, 3]);
        Assert.False(grouped.IsDepthwise);
        Assert.False(grouped.IsChannelwise);
        var single = ConvProblem.ForConv(ConvGeometry.Uniform(2), [1, 1, 6, 6], [1, 1, 3, 3]);
        Assert.False(single.IsDepthwise);
        Assert.False(single.IsChannelwise);
    }
}
