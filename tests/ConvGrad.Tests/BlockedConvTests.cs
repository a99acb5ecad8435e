using System.Runtime.Intrinsics;
using ConvGrad.Cpu.Blocked;
using CsCheck;
using static ConvGrad.Tests.Tolerance;

namespace ConvGrad.Tests;

/// <summary>
/// The direct kernels on the channel-blocked layout (<see cref="BlockedTensor"/>, <see cref="BlockedConvPlan"/>) against
/// the float64 reference, for both vector widths: 1-3 D, stride 1-4, asymmetric padding, dilation, groups of whole
/// blocks, depthwise, batch 1-3, widths crossing every register-tile edge, and channel counts with block tails.
/// </summary>
public class BlockedConvTests
{
    private static readonly ConvOptions Reference = new() { Engine = ConvEngine.Reference };

    /// <summary>A random problem the blocked kernels cover at block <paramref name="block"/>.</summary>
    internal sealed record Case(ConvGeometry Geometry, int[] XShape, int[] WShape, bool Bias)
    {
        public override string ToString() =>
            $"x {Shapes.Format(XShape)} w {Shapes.Format(WShape)} stride {Shapes.Format(Geometry.Stride.AsSpan())} " +
            $"pad {Shapes.Format(Geometry.PaddingBefore.AsSpan())}/{Shapes.Format(Geometry.PaddingAfter.AsSpan())} " +
            $"dil {Shapes.Format(Geometry.Dilation.AsSpan())} groups {Geometry.Groups}";
    }

    internal static Case RandomCase(Random rng, int block)
    {
        int dims = rng.Next(1, 4);
        int[] stride = new int[dims], dil = new int[dims], pb = new int[dims], pa = new int[dims], ker = new int[dims], inp = new int[dims];
        for (int a = 0; a < dims; a++)
        {
            stride[a] = rng.Next(1, 5);
            dil[a] = rng.Next(1, 4);
            ker[a] = rng.Next(1, dims == 3 ? 4 : 6);
            pb[a] = rng.Next(0, 4);
            pa[a] = rng.Next(0, 4);
            int span = dil[a] * (ker[a] - 1) + 1;
            // The last axis crosses the register tile (up to 14 pixels, per stride phase for dX) several times.
            int extra = rng.Next(0, a < dims - 1 ? (dims == 3 ? 4 : 8) : 50);
            inp[a] = Math.Max(1, span - pb[a] - pa[a] + extra);
        }
        if (rng.Next(6) == 0)
        {
            // 1x1, stride 1, no padding: the flattened GEMM path.
            for (int a = 0; a < dims; a++)
            {
                stride[a] = 1; ker[a] = 1; pb[a] = pa[a] = 0;
            }
        }
        int groups, cg, kg;
        if (rng.Next(5) == 0)
        {
            // Depthwise (multiplier 1): channels as lanes, with block tails.
            groups = rng.Next(2, 3 * block + 3);
            cg = kg = 1;
        }
        else if (rng.Next(4) == 0)
        {
            groups = rng.Next(2, 4);
            cg = block * rng.Next(1, 3);
            kg = block * rng.Next(1, 4);
        }
        else
        {
            groups = 1;
            cg = rng.Next(1, 3 * block + 3);
            kg = rng.Next(1, 3 * block + 3);
        }
        int n = rng.Next(1, 4);
        var g = new ConvGeometry(stride, pb, pa, dil, groups);
        return new Case(g, [n, cg * groups, .. inp], [kg * groups, cg, .. ker], rng.Next(2) == 0);
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

    /// <summary>The channel tail of the last block (channels past C) must stay exactly zero.</summary>
    private static void AssertZeroTail(BlockedTensor t, string what)
    {
        int c = t.Shape[1], b = t.BlockSize;
        if (c % b == 0)
        {
            return;
        }
        var s = t.Span;
        int blockLength = t.Spatial * b;
        for (int n = 0; n < t.Shape[0]; n++)
        {
            int start = (n * t.ChannelBlocks + t.ChannelBlocks - 1) * blockLength;
            for (int p = 0; p < t.Spatial; p++)
            {
                for (int l = c % b; l < b; l++)
                {
                    Assert.True(s[start + p * b + l] == 0, $"{what}: channel tail lane {l} of pixel {p} is {s[start + p * b + l]}");
                }
            }
        }
    }

    private static void CheckAllPasses(Case c, int seed, bool integer, int block, int threads)
    {
        var rng = new Random(seed);
        var g = c.Geometry;
        var x = Random(rng, c.XShape, integer);
        var w = Random(rng, c.WShape, integer);
        var b = c.Bias ? Random(rng, [c.WShape[0]], integer) : null;
        int[] yShape = g.ConvOutputShape(c.XShape, c.WShape);
        var dy = Random(rng, yShape, integer);
        var p = ConvProblem.ForConv(g, c.XShape, c.WShape);
        Assert.True(BlockedConv.Applies(p, ConvPass.Forward, block), $"{c} should be covered");
        var plan = new BlockedConvPlan(p, block);
        plan.SetWeights(w.ReadOnlySpan, b is null ? default : b.ReadOnlySpan);

        var xb = BlockedTensor.FromNchw(x, block);
        var yb = new BlockedTensor(yShape, block);
        yb.Span.Fill(float.NaN);
        plan.Forward(xb, yb, threads);
        AssertZeroTail(yb, $"forward {c}");
        AssertClose(Conv.Forward(x, w, b, g, Reference), yb.ToNchw().ReadOnlySpan, integer, $"forward block {block} {c}");

        var dyb = BlockedTensor.FromNchw(dy, block);
        var dxb = new BlockedTensor(c.XShape, block);
        dxb.Span.Fill(float.NaN);
        plan.BackwardData(dyb, dxb, threads);
        AssertZeroTail(dxb, $"dx {c}");
        AssertClose(Conv.BackwardData(dy, w, g, c.XShape, Reference), dxb.ToNchw().ReadOnlySpan, integer, $"dx block {block} {c}");

        var dw = new float[w.Length];
        dw.AsSpan().Fill(float.NaN);
        plan.BackwardWeight(xb, dyb, dw, threads);
        AssertClose(Conv.BackwardWeight(x, dy, g, c.WShape, Reference), dw, integer, $"dw block {block} {c}");
    }

    [Fact]
    public void AllPasses_MatchReference_Block8() =>
        Gen.Int.Sample(seed => CheckAllPasses(RandomCase(new Random(seed), 8), seed, integer: false, block: 8, threads: 1 + (seed & 1)), iter: 80, threads: 1);

    [Fact]
    public void AllPasses_AreExact_OnIntegers_Block8() =>
        Gen.Int.Sample(seed => CheckAllPasses(RandomCase(new Random(seed), 8), seed, integer: true, block: 8, threads: 2), iter: 80, threads: 1);

    [SkippableFact]
    public void AllPasses_MatchReference_Block16()
    {
        Skip.If(!Vector512.IsHardwareAccelerated, "this CPU has no hardware Vector512 (AVX-512)");
        Gen.Int.Sample(seed => CheckAllPasses(RandomCase(new Random(seed), 16), seed, integer: false, block: 16, threads: 1 + (seed & 1)), iter: 80, threads: 1);
    }

    [SkippableFact]
    public void AllPasses_AreExact_OnIntegers_Block16()
    {
        Skip.If(!Vector512.IsHardwareAccelerated, "this CPU has no hardware Vector512 (AVX-512)");
        Gen.Int.Sample(seed => CheckAllPasses(RandomCase(new Random(seed), 16), seed, integer: true, block: 16, threads: 2), iter: 80, threads: 1);
    }

    /// <summary>Suite-like layers (scaled down): every tile shape and both border kinds, at both widths.</summary>
    [SkippableTheory]
    [InlineData(16, 2, 64, 14, 14, 64, 3, 1, 1, 1, 1)]   // mnist-c2-like: 3x3 'same'
    [InlineData(16, 1, 48, 17, 23, 40, 3, 2, 1, 1, 1)]   // stride 2, tails in both channel counts
    [InlineData(16, 2, 32, 12, 12, 32, 3, 1, 2, 2, 1)]   // dilation 2
    [InlineData(16, 2, 64, 9, 9, 64, 3, 1, 1, 1, 4)]     // groups of 16
    [InlineData(16, 1, 40, 7, 9, 36, 1, 2, 0, 1, 1)]     // 1x1 stride 2: empty dX phases
    [InlineData(16, 2, 33, 6, 31, 17, 1, 1, 0, 1, 1)]    // 1x1 stride 1: the flattened GEMM
    [InlineData(16, 2, 48, 13, 15, 48, 3, 1, 1, 1, 48)]  // depthwise (mbv2-like)
    [InlineData(16, 1, 36, 15, 17, 36, 3, 2, 1, 1, 36)]  // depthwise stride 2, channel tail
    [InlineData(8, 2, 64, 14, 14, 64, 3, 1, 1, 1, 1)]
    [InlineData(16, 2, 100, 7, 5, 104, 3, 1, 1, 1, 1)]    // short rows: tiles of 4 output blocks (and a 3-block tail), tails (over 4 blocks: the direct tile)
    [InlineData(8, 2, 56, 5, 3, 36, 3, 1, 1, 1, 1)]      // AVX2 3x4 tiles
    [InlineData(8, 2, 40, 5, 7, 44, 3, 1, 1, 1, 1)]      // AVX2 7-wide rows: 4x3 + 3x3 tiles, a 3-block tail of 6 blocks
    [InlineData(16, 1, 96, 6, 9, 96, 3, 1, 1, 1, 1)]     // AVX-512 9-wide rows: 9x3 tiles (27 accumulators), fwd and dX (6 blocks: the direct tile)
    [InlineData(16, 1, 40, 6, 9, 48, 3, 1, 1, 1, 1)]     // the same with 3 blocks: the row-correlation tile (a pair and a single)
    [InlineData(8, 2, 20, 11, 13, 20, 5, 2, 2, 1, 20)]   // depthwise 5x5 stride 2
    [InlineData(8, 1, 20, 11, 29, 12, 5, 3, 2, 1, 1)]    // 5x5 stride 3
    [InlineData(8, 2, 32, 9, 9, 32, 3, 1, 1, 1, 4)]      // groups of 8
    [InlineData(8, 1, 3, 30, 30, 16, 7, 2, 3, 1, 1)]     // stem-like: 3 channels
    [InlineData(16, 2, 136, 5, 6, 130, 3, 1, 1, 1, 1)]   // rn50-3x3-7-like: tile weights over L2, fwd and dX reduced in 2 chunks, tails
    [InlineData(8, 1, 464, 3, 4, 456, 3, 1, 1, 1, 1)]    // the same at AVX2 width
    [InlineData(16, 2, 16, 12, 13, 16, 3, 1, 1, 1, 1)]   // one output block: dW takes 3 kernel rows per tile call, border rows alone
    [InlineData(16, 1, 20, 13, 11, 12, 5, 2, 2, 2, 1)]   // one output block (a tail), 5x5 stride 2 dilation 2: rows in groups of 3 + 2
    public void AllPasses_MatchReference_OnLayers(int block, int n, int c, int h, int w, int k, int r, int s, int pad, int d, int groups)
    {
        Skip.If(block == 16 && !Vector512.IsHardwareAccelerated, "this CPU has no hardware Vector512 (AVX-512)");
        var g = new ConvGeometry([s, s], [pad, pad], [pad, pad], [d, d], groups);
        var cs = new Case(g, [n, c, h, w], [k, c / groups, r, r], true);
        CheckAllPasses(cs, 11, integer: true, block, threads: 2);
        CheckAllPasses(cs, 12, integer: false, block, threads: 1);
    }

    /// <summary>
    /// The NCHW API keeps reblocked weights only while the weights are bitwise the same: calls with the same tensor reuse
    /// them, and a weight changed in place between calls (one element, the last one, all of them) is reblocked, forward and dX.
    /// </summary>
    [Fact]
    public void NchwApi_ReblocksWeights_ChangedInPlaceBetweenCalls()
    {
        var g = ConvGeometry.Uniform(2, padding: 1);
        var rng = new Random(17);
        var x = Random(rng, [2, 16, 7, 7], integer: true);
        var w = Random(rng, [16, 16, 3, 3], integer: true);
        var dy = Random(rng, [2, 16, 7, 7], integer: true);
        var options = new ConvOptions { Threads = 2 };
        for (int change = 0; change < 4; change++)
        {
            if (change == 1)
            {
                w.Span[5] += 1;
            }
            else if (change == 2)
            {
                w.Span[w.Span.Length - 1] = -w.Span[w.Span.Length - 1] - 2;
            }
            else if (change == 3)
            {
                Random(rng, w.Shape.ToArray(), integer: true).ReadOnlySpan.CopyTo(w.Span);
            }
            for (int call = 0; call < 2; call++)
            {
                using var y = Conv.Forward(x, w, null, g, options);
                using var yRef = Conv.Forward(x, w, null, g, Reference);
                Assert.True(y.ReadOnlySpan.SequenceEqual(yRef.ReadOnlySpan), $"forward after change {change}, call {call}");
                using var dx = Conv.BackwardData(dy, w, g, x.Shape, options);
                using var dxRef = Conv.BackwardData(dy, w, g, x.Shape.ToArray(), Reference);
                Assert.True(dx.ReadOnlySpan.SequenceEqual(dxRef.ReadOnlySpan), $"dx after change {change}, call {call}");
            }
        }
    }

    /// <summary>1x1 stride 1 with padding only after: the output is longer than the input, so its pixels must not be flattened.</summary>
    [Theory]
    [InlineData(8)]
    [InlineData(16)]
    public void OneByOne_WithPaddingAfterOnly_IsNotFlattened(int block)
    {
        var cs = new Case(new ConvGeometry([1, 1], [0, 0], [1, 3], [1, 1]), [2, 17, 4, 8], [19, 17, 1, 1], true);
        CheckAllPasses(cs, 3, integer: true, block, threads: 2);
    }

    /// <summary>
    /// One to four output blocks per group with 2-3 width taps (forward at unit width stride) run forward and dX on the
    /// row-correlation tile (each broadcast serves every width tap; the padding's input pixels skipped in place): exact on
    /// integers against the reference for tile widths 1-14, one to four blocks (odd counts too; five keep the direct tile), both tap counts,
    /// padding at either end, more padding than taps, height and width strides (dX's stride phases), groups, and the dX of
    /// a layer whose input has at most four blocks (<see cref="Cpu.ConvPlanner.UsesRowCorrelation"/>); the plan names it.
    /// </summary>
    [Theory]
    [InlineData(2, 16, 5, 28, 16, 3, 3, 1, 1, 1, 1)]   // the ResNet's 16→16 layer (two 14-pixel tiles per row)
    [InlineData(1, 16, 3, 29, 16, 3, 3, 1, 1, 1, 1)]   // 29 = 10 + 10 + 9
    [InlineData(2, 13, 4, 9, 7, 3, 2, 1, 1, 0, 1)]     // partial blocks, 2 taps, no width padding
    [InlineData(1, 32, 6, 5, 16, 3, 3, 2, 1, 1, 1)]    // two input blocks, height stride 2 (width stride 1)
    [InlineData(2, 16, 8, 28, 32, 3, 3, 2, 1, 1, 1, 2)] // the ResNet's 16→32 stride-2 layer: dX's stride phases (1 and 2 taps) on the row tile
    [InlineData(1, 16, 7, 11, 16, 3, 2, 1, 1, 1, 1, 3)] // width stride 3: 2 taps over 3 phases (one with none)
    [InlineData(1, 16, 2, 1, 16, 3, 3, 1, 1, 1, 1)]    // one-pixel rows: every tap but the middle one in the padding
    [InlineData(2, 32, 4, 15, 32, 3, 3, 1, 1, 1, 2)]   // groups of 16 channels: one block per group
    [InlineData(1, 16, 7, 12, 48, 2, 3, 1, 0, 2, 1)]   // dX on the row tile (one input block) over 3 dY blocks; forward on the direct tile
    [InlineData(2, 32, 5, 14, 32, 3, 3, 1, 1, 1, 1)]   // the ResNet's 32→32 layer: two blocks, two 7-pixel tiles per row
    [InlineData(1, 32, 4, 27, 24, 3, 3, 1, 1, 1, 1)]   // a block and a half of outputs: 2 blocks (9 + 9 + 9 pixels), dX two blocks over two
    [InlineData(2, 48, 3, 9, 48, 3, 2, 1, 1, 3, 3)]    // groups of 16, 2 taps, width padding 3 (a whole tap span in the padding)
    [InlineData(1, 32, 6, 13, 64, 3, 3, 2, 1, 1, 1, 2)] // mnist-c2-like dX at stride 2: two dX blocks over four dY blocks
    [InlineData(2, 64, 7, 7, 64, 3, 3, 1, 1, 1, 1)]    // the ResNet's 64→64 layer: four blocks in two pairs of 7x2 tiles
    [InlineData(1, 40, 5, 11, 48, 3, 3, 1, 1, 1, 1)]   // three blocks (a pair and a single), partial input block
    [InlineData(1, 80, 3, 6, 80, 3, 3, 1, 1, 1, 1)]    // five blocks: the direct tile
    public void OneOutputBlock_RunsOnRowCorrelation_Exactly(int n, int c, int h, int w, int k, int r, int s, int strideH, int pad, int padW, int groups, int strideW = 1)
    {
        var g = new ConvGeometry([strideH, strideW], [pad, padW], [pad, padW], [1, 1], groups);
        var cs = new Case(g, [n, c, h, w], [k, c / groups, r, s], true);
        var p = ConvProblem.ForConv(g, cs.XShape, cs.WShape);
        var plan = new BlockedConvPlan(p, 16);
        foreach (var pass in new[] { ConvPass.Forward, ConvPass.BackwardData })
        {
            bool one = pass == ConvPass.Forward ? plan.Geometry.KbG <= 4 && strideW == 1 : plan.Geometry.CbG <= 4;
            Assert.Equal(one, Cpu.ConvPlanner.UsesRowCorrelation(plan.Geometry, pass));
            Assert.Equal(one, plan.Name(pass).Contains($" rowcorr{s}", StringComparison.Ordinal));
        }
        CheckAllPasses(cs, 11, integer: true, block: 16, threads: 2);
        CheckAllPasses(cs, 12, integer: false, block: 16, threads: 1);
    }

    /// <summary>The plan's name and description name the kernel that runs: its width, tile and the depthwise path.</summary>
    [Fact]
    public void Plan_NamesTheKernelItRuns()
    {
        var p = ConvProblem.ForConv(ConvGeometry.Uniform(2, padding: 1), [1, 64, 14, 14], [64, 64, 3, 3]);
        var plan = new BlockedConvPlan(p, 16);
        Assert.Equal("direct-blocked16 avx512 7x2 rowcorr3", plan.Name(ConvPass.Forward)); // four output blocks: pairs on the row tile, the padding skipped in place
        Assert.StartsWith("direct-blocked16 avx512 7x2 phases rowcorr3", plan.Describe(ConvPass.BackwardData).Replace(":", ""));
        var eight = new BlockedConvPlan(ConvProblem.ForConv(ConvGeometry.Uniform(2, padding: 1), [1, 128, 14, 14], [128, 128, 3, 3]), 16);
        Assert.StartsWith("direct-blocked16 avx512 14x2", eight.Name(ConvPass.Forward)); // eight output blocks: the direct tile
        Assert.DoesNotContain("rowcorr", eight.Name(ConvPass.BackwardData), StringComparison.Ordinal);
        var broad = new BlockedConvPlan(ConvProblem.ForConv(ConvGeometry.Uniform(2, padding: 1), [1, 64, 56, 112], [64, 64, 3, 3]), 8);
        Assert.Equal("direct-blocked8 avx2 6x2", broad.Name(ConvPass.Forward)); // 2 of 19 tiles stage: cheaper than a copy
        Assert.DoesNotContain("padding written in", broad.Describe(ConvPass.Forward));
        var small = new BlockedConvPlan(ConvProblem.ForConv(ConvGeometry.Uniform(2, padding: 1), [1, 512, 7, 7], [512, 512, 3, 3]), 16);
        // 4 blocks × 32 × 9 taps × 1 KiB of weights per tile: 5 chunks of L2; the one 7-pixel tile of a row reaches the
        // padding on both sides, for each of 8 output quads: x (and dY) copied once with the padding written in.
        Assert.Equal("direct-blocked16 avx512 7x4 chunked5 padded", small.Name(ConvPass.Forward));
        Assert.Equal("direct-blocked16 avx512 7x4 phases chunked5 padded", small.Name(ConvPass.BackwardData));
        var sixteen = new BlockedConvPlan(ConvProblem.ForConv(ConvGeometry.Uniform(2, padding: 1), [1, 16, 28, 28], [16, 16, 3, 3]), 16);
        Assert.Equal("direct-blocked16 avx512 14x1 rowcorr3", sixteen.Name(ConvPass.Forward)); // one output block: each broadcast serves the 3 width taps
        Assert.Equal("direct-blocked16 avx512 14x1 phases rowcorr3", sixteen.Name(ConvPass.BackwardData));
        Assert.Contains("row-correlation", sixteen.Describe(ConvPass.Forward));
        Assert.StartsWith("direct-blocked8 avx2 6x2", new BlockedConvPlan(sixteen.Problem, 8).Name(ConvPass.Forward)); // AVX2 keeps the direct tile
        Assert.Contains("in chunks", small.Describe(ConvPass.Forward));
        Assert.Contains("width padding written in", small.Describe(ConvPass.Forward));
        Assert.Contains("width padding written in", small.Describe(ConvPass.BackwardData));
        Assert.Contains(" chunked2", new BlockedConvPlan(ConvProblem.ForConv(ConvGeometry.Uniform(2, padding: 1), [2, 136, 5, 6], [130, 136, 3, 3]), 16).Name(ConvPass.Forward));
        Assert.Equal("direct-blocked8 avx2 4x3 padded", new BlockedConvPlan(ConvProblem.ForConv(ConvGeometry.Uniform(2, padding: 1), [1, 64, 7, 7], [64, 64, 3, 3]), 8).Name(ConvPass.Forward));
        var dw = new BlockedConvPlan(ConvProblem.ForConv(ConvGeometry.Uniform(2, padding: 1, groups: 24), [1, 24, 7, 7], [24, 1, 3, 3]), 8);
        Assert.True(dw.Geometry.Depthwise);
        Assert.Equal("direct-blocked8 avx2 depthwise 5px planes", dw.Name(ConvPass.Forward)); // 7 columns: 5 interior in one group, 2 border ones
        Assert.Equal("direct-blocked8 avx2 depthwise 5px planes flipped", dw.Name(ConvPass.BackwardData));
        Assert.Equal("direct-blocked8 avx2 depthwise dw 3x3 in registers", dw.Name(ConvPass.BackwardWeight));
        Assert.Contains("depthwise", dw.Describe(ConvPass.BackwardWeight));
        var strided = new BlockedConvPlan(ConvProblem.ForConv(ConvGeometry.Uniform(2, stride: 2, padding: 1, groups: 32), [1, 32, 14, 14], [32, 1, 3, 3]), 16);
        Assert.Equal("direct-blocked16 avx512 depthwise 6px planes", strided.Name(ConvPass.Forward)); // 7 output columns, 6 interior
        Assert.Equal("direct-blocked16 avx512 depthwise 7x2rows phases", strided.Name(ConvPass.BackwardData)); // strided dX keeps its stride phases
        var wide = new BlockedConvPlan(ConvProblem.ForConv(new ConvGeometry([1, 1], [0, 3], [0, 3], [1, 1], 16), [1, 16, 4, 20], [16, 1, 1, 7]), 16);
        Assert.Equal("direct-blocked16 avx512 depthwise dw", wide.Name(ConvPass.BackwardWeight)); // 7 width taps: more than the registers' 5
        var volume = new BlockedConvPlan(ConvProblem.ForConv(ConvGeometry.Uniform(3, padding: 1, groups: 16), [1, 16, 4, 6, 6], [16, 1, 3, 3, 3]), 16);
        Assert.Equal("direct-blocked16 avx512 depthwise 4x2rows", volume.Name(ConvPass.Forward)); // a depth axis: row pairs
        Assert.False(BlockedConv.Worthwhile(ConvProblem.ForConv(ConvGeometry.Uniform(2, padding: 1), [1, 3, 14, 14], [64, 3, 3, 3]), 16));
        Assert.True(BlockedConv.Worthwhile(p, 16));
    }

    /// <summary>dW sums in an order fixed by the shape: 1, 2 and 3 threads give the same bits, with many tasks and with few (chunked rows).</summary>
    [SkippableTheory]
    [InlineData(8, 2, 32, 13, 17, 32, 3)]   // 2 x 4 = 8 tasks
    [InlineData(8, 3, 8, 21, 19, 8, 3)]     // one task: rows reduced in fixed chunks
    [InlineData(16, 3, 16, 21, 19, 16, 3)]  // one task of one output block: 3 kernel rows per tile call, rows reduced in fixed chunks
    public void BackwardWeight_IsBitwiseTheSame_ForAnyThreadCount(int block, int n, int c, int h, int w, int k, int r)
    {
        Skip.If(block == 16 && !Vector512.IsHardwareAccelerated, "this CPU has no hardware Vector512 (AVX-512)");
        var rng = new Random(5);
        var g = ConvGeometry.Uniform(2, stride: 1, padding: 1);
        var x = Random(rng, [n, c, h, w], false);
        var p = ConvProblem.ForConv(g, x.Shape, [k, c, r, r]);
        var dy = Random(rng, p.OutputShape, false);
        var plan = new BlockedConvPlan(p, block);
        var xb = BlockedTensor.FromNchw(x, block);
        var dyb = BlockedTensor.FromNchw(dy, block);
        var one = new float[k * c * r * r];
        plan.BackwardWeight(xb, dyb, one, 1);
        foreach (int threads in new[] { 2, 3 })
        {
            var many = new float[one.Length];
            plan.BackwardWeight(xb, dyb, many, threads);
            for (int i = 0; i < one.Length; i++)
            {
                Assert.True(BitConverter.SingleToInt32Bits(one[i]) == BitConverter.SingleToInt32Bits(many[i]), $"dw[{i}] differs with {threads} threads: {one[i]:R} vs {many[i]:R}");
            }
        }
    }

    [Theory]
    [InlineData(8)]
    [InlineData(16)]
    public void Layout_RoundTrips_WithZeroTails(int block)
    {
        var rng = new Random(block);
        foreach (int[] shape in new[] { new[] { 2, 19, 37 }, [3, 16, 5, 11], [1, 5, 3, 4, 7], [2, 40, 9, 9] })
        {
            var x = Random(rng, shape, false);
            var b = BlockedTensor.FromNchw(x, block, threads: 2);
            Assert.Equal(block, b.BlockSize);
            Assert.Equal((shape[1] + block - 1) / block, b.ChannelBlocks);
            AssertZeroTail(b, $"layout {Shapes.Format(shape)}");
            Assert.Equal(x.ToArray(), b.ToNchw(threads: 2).ToArray());
            // Element access agrees with the NCHW index.
            int[] last = shape.Select(d => d - 1).ToArray();
            Assert.Equal(x[last], b[last]);
            var y = Tensor<float>.Zeros(shape);
            b.CopyTo(y, threads: 1);
            Assert.Equal(x.ToArray(), y.ToArray());
        }
    }

    [Fact]
    public void Layout_RejectsBadShapesAndBlocks()
    {
        Assert.Throws<ArgumentException>("shape", () => new BlockedTensor([2, 3]));
        Assert.Throws<ArgumentException>("shape", () => new BlockedTensor([1, 2, 3, 4, 5, 6]));
        Assert.Throws<ArgumentException>("shape", () => new BlockedTensor([1, 0, 3]));
        Assert.Throws<ArgumentException>("blockSize", () => new BlockedTensor([1, 2, 3], blockSize: 4));
        var b = new BlockedTensor([1, 4, 5], 8);
        Assert.Throws<ArgumentException>("x", () => b.CopyFrom(Tensor<float>.Zeros(1, 4, 6)));
        Assert.Throws<ArgumentException>("x", () => b.CopyTo(Tensor<float>.Zeros(1, 5, 5)));
        Assert.Throws<ArgumentException>("threads", () => b.ToNchw(threads: -1));
    }

    [Fact]
    public void Plan_RejectsMismatchedTensors()
    {
        var g = ConvGeometry.Uniform(2, padding: 1);
        var p = ConvProblem.ForConv(g, [1, 8, 5, 5], [8, 8, 3, 3]);
        var plan = new BlockedConvPlan(p, 8);
        plan.SetWeights(new float[8 * 8 * 9], default);
        Assert.Throws<ArgumentException>("x", () => plan.Forward(new BlockedTensor([1, 8, 5, 6], 8), new BlockedTensor([1, 8, 5, 5], 8), 1));
        Assert.Throws<ArgumentException>("y", () => plan.Forward(new BlockedTensor([1, 8, 5, 5], 8), new BlockedTensor([1, 8, 5, 5], 16), 1));
        Assert.Throws<ArgumentException>("w", () => plan.SetWeights(new float[7], default));
        Assert.Throws<ArgumentException>("p", () => new BlockedConvPlan(ConvProblem.ForConv(ConvGeometry.Uniform(2, groups: 2), [1, 8, 5, 5], [8, 4, 3, 3]), 8));
        Assert.False(BlockedConv.Applies(ConvProblem.ForConv(ConvGeometry.Uniform(2, groups: 2), [1, 8, 5, 5], [8, 4, 3, 3]), ConvPass.Forward, 8));
    }
}
