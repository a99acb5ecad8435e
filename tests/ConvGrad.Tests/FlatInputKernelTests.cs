using System.Runtime.Intrinsics;
using ConvGrad.Cpu;
using ConvGrad.Cpu.Blocked;
using CsCheck;
using static ConvGrad.Tests.Tolerance;

namespace ConvGrad.Tests;

/// <summary>
/// The first-layer kernels (<see cref="FlatInputKernels{TI, TV}"/>): forward from a plain NCHW input of 1-3 channels into
/// the blocked layout, and backward-weight from that input and a blocked dY, against the float64 reference on both vector
/// widths: 1-3 D, stride 1-4, asymmetric padding, dilation, batch 1-3, widths crossing every tile edge and output-channel
/// tails; integer inputs exactly equal; dW bitwise the same for any thread count; the name is the tile that runs. Backward-data
/// of the same layers into the blocked layout runs on the few-channel dot-product kernel (<see cref="FewChannelDotKernels{TI, TV}"/>).
/// </summary>
public class FlatInputKernelTests
{
    private static readonly ConvOptions Reference = new() { Engine = ConvEngine.Reference };

    private static BlockedConvTests.Case RandomCase(Random rng, int block)
    {
        int dims = rng.Next(1, 4);
        int[] stride = new int[dims], dil = new int[dims], pb = new int[dims], pa = new int[dims], ker = new int[dims], inp = new int[dims];
        for (int a = 0; a < dims; a++)
        {
            stride[a] = rng.Next(1, 5);
            dil[a] = rng.Next(1, 4);
            ker[a] = rng.Next(1, dims == 3 ? 4 : a == dims - 1 ? 16 : 8);
            pb[a] = rng.Next(0, 4);
            pa[a] = rng.Next(0, 4);
            int span = dil[a] * (ker[a] - 1) + 1;
            int extra = rng.Next(0, a < dims - 1 ? (dims == 3 ? 4 : 8) : 60);
            inp[a] = Math.Max(1, span - pb[a] - pa[a] + extra);
        }
        if (rng.Next(8) == 0)
        {
            for (int a = 0; a < dims; a++)
            {
                stride[a] = 1; ker[a] = 1; pb[a] = pa[a] = 0;
            }
        }
        int c = rng.Next(1, FlatInput.MaxChannels + 1);
        int k = rng.Next(1, 5 * block + 3);
        int n = rng.Next(1, 4);
        var g = new ConvGeometry(stride, pb, pa, dil, 1);
        return new BlockedConvTests.Case(g, [n, c, .. inp], [k, c, .. ker], rng.Next(2) == 0);
    }

    private static Tensor<float> Random(Random rng, int[] shape, bool integer)
    {
        var t = Tensor<float>.Uninitialized(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = integer ? rng.Next(-3, 4) : (float)(rng.NextDouble() * 2 - 1);
        }
        return t;
    }

    private static void Check(BlockedConvTests.Case c, int seed, bool integer, int block, int threads)
    {
        var rng = new Random(seed);
        var g = c.Geometry;
        var x = Random(rng, c.XShape, integer);
        var w = Random(rng, c.WShape, integer);
        var b = c.Bias ? Random(rng, [c.WShape[0]], integer) : null;
        var p = ConvProblem.ForConv(g, c.XShape, c.WShape);
        var dy = Random(rng, p.OutputShape, integer);
        var plan = new BlockedConvPlan(p, block);
        Assert.True(plan.ReadsNchw, $"{c} should read NCHW");
        plan.SetWeights(w.ReadOnlySpan, b is null ? default : b.ReadOnlySpan);

        var y = new BlockedTensor(p.OutputShape, block);
        y.Span.Fill(float.NaN);
        plan.ForwardFromNchw(x.ReadOnlySpan, y, threads);
        // The channel tail of the last output block comes out exactly zero (the next layer reads it as channels).
        var ys = y.Span;
        int k = p.K, lanes = block, blockLength = y.Spatial * lanes;
        for (int img = 0; img < p.N && k % lanes != 0; img++)
        {
            int start = (img * y.ChannelBlocks + y.ChannelBlocks - 1) * blockLength;
            for (int i = 0; i < blockLength; i++)
            {
                Assert.True(i % lanes < k % lanes || ys[start + i] == 0, $"forward {c}: tail lane {i % lanes} of pixel {i / lanes} is {ys[start + i]}");
            }
        }
        AssertClose(Conv.Forward(x, w, b, g, Reference).ReadOnlySpan, y.ToNchw().ReadOnlySpan, integer, $"forward block {block} {c}");

        var dyb = BlockedTensor.FromNchw(dy, block);
        var dw = new float[w.Length];
        dw.AsSpan().Fill(float.NaN);
        plan.BackwardWeightFromNchw(x.ReadOnlySpan, dyb, dw, threads);
        AssertClose(Conv.BackwardWeight(x, dy, g, c.WShape, Reference).ReadOnlySpan, dw, integer, $"dw block {block} {c}");

        // Backward-data into the blocked layout (the few-channel dot-product kernel): every lane written, the unused ones zero.
        var dx = new BlockedTensor(c.XShape, block);
        dx.Span.Fill(float.NaN);
        plan.BackwardData(dyb, dx, threads);
        var dxs = dx.Span;
        for (int i = 0; i < dxs.Length; i++)
        {
            Assert.True(i % lanes < p.C || dxs[i] == 0, $"dx {c}: unused lane {i % lanes} of pixel {i / lanes} is {dxs[i]}");
        }
        AssertClose(Conv.BackwardData(dy, w, g, c.XShape, Reference).ReadOnlySpan, dx.ToNchw().ReadOnlySpan, integer, $"dx block {block} {c}");
    }

    [Fact]
    public void FirstLayer_MatchesReference_Block8() =>
        Gen.Int.Sample(seed => Check(RandomCase(new Random(seed), 8), seed, integer: false, block: 8, threads: 1 + (seed & 1)), iter: 60, threads: 1);

    [Fact]
    public void FirstLayer_IsExact_OnIntegers_Block8() =>
        Gen.Int.Sample(seed => Check(RandomCase(new Random(seed), 8), seed, integer: true, block: 8, threads: 2), iter: 60, threads: 1);

    [SkippableFact]
    public void FirstLayer_MatchesReference_Block16()
    {
        Skip.If(!Vector512.IsHardwareAccelerated, "this CPU has no hardware Vector512 (AVX-512)");
        Gen.Int.Sample(seed => Check(RandomCase(new Random(seed), 16), seed, integer: false, block: 16, threads: 1 + (seed & 1)), iter: 60, threads: 1);
    }

    [SkippableFact]
    public void FirstLayer_IsExact_OnIntegers_Block16()
    {
        Skip.If(!Vector512.IsHardwareAccelerated, "this CPU has no hardware Vector512 (AVX-512)");
        Gen.Int.Sample(seed => Check(RandomCase(new Random(seed), 16), seed, integer: true, block: 16, threads: 2), iter: 60, threads: 1);
    }

    /// <summary>Suite-like first layers (scaled down): the RGB stem, gray 3x3, tails of output blocks, a block of 3 as 2 + 1.</summary>
    [SkippableTheory]
    [InlineData(16, 2, 3, 30, 34, 64, 7, 2, 3, 1)]   // rn50-stem-like
    [InlineData(16, 3, 1, 28, 28, 32, 3, 1, 1, 1)]   // mnist-c1
    [InlineData(16, 1, 2, 19, 23, 40, 5, 1, 0, 2)]   // 3 output blocks, dilation, no padding (in place)
    [InlineData(8, 2, 3, 30, 34, 64, 7, 2, 3, 1)]
    [InlineData(8, 3, 1, 28, 28, 32, 3, 1, 1, 1)]
    [InlineData(8, 1, 3, 17, 41, 20, 11, 3, 5, 1)]   // wide kernel: taps in chunks
    public void FirstLayer_MatchesReference_OnLayers(int block, int n, int c, int h, int w, int k, int r, int s, int pad, int d)
    {
        Skip.If(block == 16 && !Vector512.IsHardwareAccelerated, "this CPU has no hardware Vector512 (AVX-512)");
        var g = new ConvGeometry([s, s], [pad, pad], [pad, pad], [d, d], 1);
        var cs = new BlockedConvTests.Case(g, [n, c, h, w], [k, c, r, r], true);
        Check(cs, 11, integer: true, block, threads: 2);
        Check(cs, 12, integer: false, block, threads: 1);
    }

    /// <summary>Images too large to stage whole are staged per output row: the same results, bit for bit.</summary>
    [Theory]
    [InlineData(8)]
    [InlineData(16)]
    public void RowStaging_GivesTheSameBits_AsImageStaging(int block)
    {
        var rng = new Random(block);
        var g = new ConvGeometry([2, 1], [3, 1], [2, 2], [1, 2], 1);
        var x = Random(rng, [2, 3, 23, 31], false);
        var p = ConvProblem.ForConv(g, x.Shape, [20, 3, 7, 3]);
        var w = Random(rng, p.WeightShape, false);
        var dy = BlockedTensor.FromNchw(Random(rng, p.OutputShape, false), block);
        var plan = new BlockedConvPlan(p, block);
        plan.SetWeights(w.ReadOnlySpan, default);
        float[] Run(out float[] dw)
        {
            var y = new BlockedTensor(p.OutputShape, block);
            plan.ForwardFromNchw(x.ReadOnlySpan, y, 2);
            dw = new float[w.Length];
            plan.BackwardWeightFromNchw(x.ReadOnlySpan, dy, dw, 2);
            return y.Span.ToArray();
        }
        var image = Run(out var dwImage);
        long saved = FlatInput.ImageStageFloats;
        try
        {
            FlatInput.ImageStageFloats = 0;
            var rows = Run(out var dwRows);
            Assert.Equal(image.Select(BitConverter.SingleToInt32Bits), rows.Select(BitConverter.SingleToInt32Bits));
            Assert.Equal(dwImage.Select(BitConverter.SingleToInt32Bits), dwRows.Select(BitConverter.SingleToInt32Bits));
        }
        finally
        {
            FlatInput.ImageStageFloats = saved;
        }
    }

    /// <summary>dW from NCHW sums in an order fixed by the shape: 1, 2 and 3 threads give the same bits.</summary>
    [Theory]
    [InlineData(8, 3, 64, 7)]
    [InlineData(16, 1, 32, 3)]
    [InlineData(8, 2, 8, 5)]     // few tasks
    public void BackwardWeight_IsBitwiseTheSame_ForAnyThreadCount(int block, int c, int k, int r)
    {
        var rng = new Random(7);
        var g = ConvGeometry.Uniform(2, stride: 2, padding: r / 2);
        var x = Random(rng, [3, c, 37, 29], false);
        var p = ConvProblem.ForConv(g, x.Shape, [k, c, r, r]);
        var dy = BlockedTensor.FromNchw(Random(rng, p.OutputShape, false), block);
        var plan = new BlockedConvPlan(p, block);
        var one = new float[k * c * r * r];
        plan.BackwardWeightFromNchw(x.ReadOnlySpan, dy, one, 1);
        foreach (int threads in new[] { 2, 3 })
        {
            var many = new float[one.Length];
            plan.BackwardWeightFromNchw(x.ReadOnlySpan, dy, many, threads);
            Assert.Equal(one.Select(BitConverter.SingleToInt32Bits), many.Select(BitConverter.SingleToInt32Bits));
        }
    }

    /// <summary>
    /// dW with dY read as NCHW and gathered into blocks one output row at a time (how the NCHW API runs a first layer
    /// whose blocked dY would be large, the ResNet stem's) gives the bits of the blocked dY, for 1, 2 and 3 threads:
    /// strides, padding, dilation, output-block tails and few-task problems (row chunks) on both block widths.
    /// </summary>
    [SkippableTheory]
    [InlineData(8, 3, 64, 7, 2, 1)]
    [InlineData(8, 1, 20, 3, 1, 2)]    // 3 blocks, a tail of 4 channels, dilation
    [InlineData(16, 3, 64, 7, 2, 1)]   // stem-like
    [InlineData(16, 1, 32, 3, 1, 1)]   // mnist-c1: one task, rows in chunks
    [InlineData(16, 2, 40, 5, 3, 1)]   // 3 blocks (2 + 1), a tail of 8 channels
    public unsafe void BackwardWeight_FromNchwRows_GivesTheBits_OfBlockedDy(int block, int c, int k, int r, int s, int d)
    {
        Skip.If(block == 16 && !Vector512.IsHardwareAccelerated, "this CPU has no hardware Vector512 (AVX-512)");
        var rng = new Random(block * 31 + k);
        var g = new ConvGeometry([s, s], [r / 2, r / 2], [r / 2 + 1, r / 2], [d, d], 1);
        var x = Random(rng, [3, c, 37, 29], false);
        var p = ConvProblem.ForConv(g, x.Shape, [k, c, r, r]);
        var dyNchw = Random(rng, p.OutputShape, false);
        var dy = BlockedTensor.FromNchw(dyNchw, block);
        var plan = new BlockedConvPlan(p, block);
        var expected = new float[k * c * r * r];
        plan.BackwardWeightFromNchw(x.ReadOnlySpan, dy, expected, 1);
        AssertClose(Conv.BackwardWeight(x, dyNchw, g, [k, c, r, r], Reference).ReadOnlySpan, expected, false, $"dw block {block}");
        foreach (int threads in new[] { 1, 2, 3 })
        {
            var rows = new float[expected.Length];
            rows.AsSpan().Fill(float.NaN);
            fixed (float* px = x.ReadOnlySpan)
            fixed (float* pdy = dyNchw.ReadOnlySpan)
            fixed (float* pdw = rows)
            {
                plan.BackwardWeightFromNchw(px, pdy, pdw, threads, dyNchw: true);
            }
            Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), rows.Select(BitConverter.SingleToInt32Bits));
        }
    }

    /// <summary>
    /// The NCHW API plans the ResNet stem's dW (a blocked dY of 25.7 MB, over the workspace limit) on the first-layer
    /// kernel with dY gathered by rows, in a workspace under 2 MiB, instead of the GEMM; mnist-c1's small dY converts whole.
    /// </summary>
    [Theory]
    [InlineData(16)]
    [InlineData(8)]
    public void Stem_BackwardWeight_Nchw_PlansTheFirstLayerKernel_WithRowGathers(int block)
    {
        var tier = block == 16 ? IsaTier.Avx512 : IsaTier.Avx2;
        var stem = ConvProblem.ForConv(ConvGeometry.Uniform(2, stride: 2, padding: 3), [8, 3, 224, 224], [64, 3, 7, 7]);
        Assert.True(BlockedNchw.GathersRows(stem, ConvPass.BackwardWeight, block));
        var plan = ConvPlanner.Plan(stem, ConvPass.BackwardWeight, tier, 2);
        Assert.Equal(ConvKernel.FirstLayer, plan.Kernel);
        // Per thread a staged image (3 × 224 × 229 floats) and one gathered dY row, not the 25.7 MB blocked dY.
        Assert.True(plan.WorkspaceBytes < 2 << 20, $"workspace {plan.WorkspaceBytes} bytes");
        var mnist = ConvProblem.ForConv(ConvGeometry.Uniform(2, padding: 1), [64, 1, 28, 28], [32, 1, 3, 3]);
        Assert.False(BlockedNchw.GathersRows(mnist, ConvPass.BackwardWeight, block));
        Assert.Equal(ConvKernel.FirstLayer, ConvPlanner.Plan(mnist, ConvPass.BackwardWeight, tier, 2).Kernel);
        Assert.False(BlockedNchw.GathersRows(stem, ConvPass.Forward, block));
    }

    /// <summary>The first-layer kernel's name is its tile; other layers are refused; the static entry points agree with the plan.</summary>
    [Fact]
    public void FirstLayer_NamesItsTile_AndRefusesOtherLayers()
    {
        var stem = ConvProblem.ForConv(ConvGeometry.Uniform(2, stride: 2, padding: 3), [1, 3, 224, 224], [64, 3, 7, 7]);
        var plan = new BlockedConvPlan(stem, 16);
        Assert.True(plan.ReadsNchw);
        Assert.Equal("direct-flat16 avx512 14x2", plan.FlatName(ConvPass.Forward)); // 112 columns: 8 tiles of 14
        Assert.Equal((4, 1, 4), FlatInput.WeightTile(plan.Geometry)); // 4 blocks, taps in chunks of 4 + 3
        Assert.Equal("direct-flat16 avx512 dw 1x4x4", plan.FlatName(ConvPass.BackwardWeight));
        var gray = new BlockedConvPlan(ConvProblem.ForConv(ConvGeometry.Uniform(2, padding: 1), [4, 1, 28, 28], [32, 1, 3, 3]), 16);
        Assert.Equal("direct-flat16 avx512 dw 3x3x2", gray.FlatName(ConvPass.BackwardWeight)); // every kernel row in registers
        Assert.Equal(8, FlatInput.WeightChunks(gray.Geometry)); // one task: rows in 8 fixed chunks
        Assert.StartsWith(plan.FlatName(ConvPass.BackwardWeight) + ":", plan.FlatDescribe(ConvPass.BackwardWeight), StringComparison.Ordinal);
        Assert.Equal("direct-flat8 avx2 6x2", new BlockedConvPlan(stem, 8).FlatName(ConvPass.Forward));
        Assert.Equal("direct-dot16 avx512 dx 8x3", plan.Name(ConvPass.BackwardData)); // dX as dot products over output channels
        Assert.Equal("direct-dot8 avx2 dx 3x3", new BlockedConvPlan(stem, 8).Name(ConvPass.BackwardData));
        Assert.Equal("direct-dot16 avx512 dx 8x1", gray.Name(ConvPass.BackwardData));
        Assert.StartsWith("direct-dot16 avx512 dx 8x3: backward-data of a first layer", plan.Describe(ConvPass.BackwardData), StringComparison.Ordinal);

        var wide = new BlockedConvPlan(ConvProblem.ForConv(ConvGeometry.Uniform(2, padding: 1), [1, 4, 8, 8], [8, 4, 3, 3]), 8);
        Assert.False(wide.ReadsNchw);
        wide.SetWeights(new float[8 * 4 * 9], default);
        Assert.Throws<InvalidOperationException>(() => wide.ForwardFromNchw(new float[4 * 64], new BlockedTensor([1, 8, 8, 8], 8), 1));

        var rng = new Random(3);
        var small = ConvProblem.ForConv(ConvGeometry.Uniform(2, stride: 2, padding: 3), [2, 3, 20, 22], [20, 3, 7, 7]);
        var x = Random(rng, small.InputShape, true);
        var w = Random(rng, small.WeightShape, true);
        var y1 = new BlockedTensor(small.OutputShape, 8);
        BlockedConv.ForwardFromNchw(small, x.ReadOnlySpan, w.ReadOnlySpan, default, y1, 2);
        AssertClose(Conv.Forward(x, w, null, ConvGeometry.Uniform(2, stride: 2, padding: 3), Reference).ReadOnlySpan, y1.ToNchw().ReadOnlySpan, true, "static forward");
        var dw = new float[w.Length];
        BlockedConv.BackwardWeightFromNchw(small, x.ReadOnlySpan, y1, dw, 2);
        AssertClose(Conv.BackwardWeight(x, y1.ToNchw(), ConvGeometry.Uniform(2, stride: 2, padding: 3), small.WeightShape, Reference).ReadOnlySpan, dw, true, "static dw");
    }
}
