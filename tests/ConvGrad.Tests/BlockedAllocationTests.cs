using ConvGrad.Cpu;
using ConvGrad.Cpu.Blocked;

namespace ConvGrad.Tests;

/// <summary>
/// No allocation per call once a plan exists, on the direct blocked kernels: a <see cref="BlockedConvPlan"/>'s passes on
/// blocked tensors allocate nothing at all, and the public NCHW calls that take the blocked kernels (conversions inside)
/// allocate no more than the other write-into calls. Counted with <see cref="GC.GetAllocatedBytesForCurrentThread"/>.
/// </summary>
public class BlockedAllocationTests
{
    public static TheoryData<ConvIsa> VectorTiers() => new() { ConvIsa.Avx512, ConvIsa.Avx2 };

    private static readonly ConvGeometry Same = ConvGeometry.Uniform(2, padding: 1);

    private static Tensor<float> Random(Random rng, params int[] shape)
    {
        var t = Tensor<float>.Uninitialized(shape);
        foreach (ref float v in t.Span)
        {
            v = (float)(rng.NextDouble() - 0.5);
        }
        return t;
    }

    /// <summary>Bytes the calling thread allocates in one call of <paramref name="call"/>, after three warm-up calls (least of three).</summary>
    private static long BytesPerCall(Action call)
    {
        for (int i = 0; i < 3; i++)
        {
            call();
        }
        long best = long.MaxValue;
        for (int i = 0; i < 3; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            call();
            best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return best;
    }

    /// <summary>Forward, dX and dW of a made plan on blocked tensors allocate zero bytes per call, with 1 and 2 threads.</summary>
    [SkippableTheory]
    [MemberData(nameof(VectorTiers))]
    public void BlockedPlan_Passes_AllocateNothing(ConvIsa isa)
    {
        IsaTierCases.SkipUnlessSupported(isa);
        int block = isa == ConvIsa.Avx512 ? 16 : 8;
        var rng = new Random(5);
        // 24 input channels (a tail block on both widths) and 40 outputs; 3 images so threads split unevenly.
        var p = ConvProblem.ForConv(Same, [3, 24, 20, 20], [40, 24, 3, 3]);
        var plan = new BlockedConvPlan(p, block);
        plan.SetWeights(Random(rng, 40, 24, 3, 3).ReadOnlySpan, Random(rng, 40).ReadOnlySpan);
        var x = BlockedTensor.FromNchw(Random(rng, 3, 24, 20, 20), block, 1);
        var dy = BlockedTensor.FromNchw(Random(rng, 3, 40, 20, 20), block, 1);
        var y = new BlockedTensor(p.OutputShape, block);
        var dx = new BlockedTensor(p.InputShape, block);
        var dw = new float[40 * 24 * 9];
        foreach (int threads in new[] { 1, 2 })
        {
            Assert.Equal(0, BytesPerCall(() => plan.Forward(x, y, threads)));
            Assert.Equal(0, BytesPerCall(() => plan.BackwardData(dy, dx, threads)));
            Assert.Equal(0, BytesPerCall(() => plan.BackwardWeight(x, dy, dw, threads)));
        }
    }

    /// <summary>
    /// The public write-into NCHW calls on a shape that takes the direct blocked kernels (checked) allocate no more per
    /// call than the problem description the call builds (no blocked copies, no reblocked weights, no work objects).
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(VectorTiers))]
    public void NchwApi_OnTheBlockedKernels_AllocatesOnlyTheProblem(ConvIsa isa)
    {
        var options = IsaTierCases.Fast(isa, 2);
        var tier = IsaTierCases.Tier(isa);
        var rng = new Random(6);
        int[] xShape = [2, 24, 18, 18];
        var p = ConvProblem.ForConv(Same, xShape, [32, 24, 3, 3]);
        foreach (var pass in new[] { ConvPass.Forward, ConvPass.BackwardData, ConvPass.BackwardWeight })
        {
            Assert.Equal(ConvKernel.DirectBlocked, ConvPlanner.Plan(p, pass, tier, 2).Kernel);
        }
        var x = Random(rng, xShape);
        var w = Random(rng, 32, 24, 3, 3);
        var b = Random(rng, 32);
        var dy = Random(rng, p.OutputShape);
        var y = Tensor<float>.Uninitialized(p.OutputShape);
        var dx = Tensor<float>.Uninitialized(xShape);
        var dw = Tensor<float>.Uninitialized(32, 24, 3, 3);
        long problem = BytesPerCall(() => ConvProblem.ForConv(Same, xShape, [32, 24, 3, 3]));
        Assert.True(BytesPerCall(() => Conv.Forward(x, w, b, Same, y, options)) <= problem, "forward");
        Assert.True(BytesPerCall(() => Conv.BackwardData(dy, w, Same, dx, options)) <= problem, "backward-data");
        Assert.True(BytesPerCall(() => Conv.BackwardWeight(x, dy, Same, dw, options)) <= problem, "backward-weight");
    }
}
