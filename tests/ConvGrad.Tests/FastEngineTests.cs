using ConvGrad.Cpu;
using ConvGrad.Cpu.Gemm;
using CsCheck;

namespace ConvGrad.Tests;

/// <summary>The fast engine against the reference on random geometries, and its determinism, thread safety and allocation.</summary>
public class FastEngineTests
{
    private static readonly ConvOptions Fast1 = new() { Engine = ConvEngine.Fast, Threads = 1 };
    private static readonly ConvOptions Fast2 = new() { Engine = ConvEngine.Fast, Threads = 2 };
    private static readonly ConvOptions Reference = new() { Engine = ConvEngine.Reference };

    /// <summary>A random convolution: 1-3 D, stride 1-4, asymmetric padding, dilation, groups (sometimes depthwise), batch 1-3.</summary>
    internal sealed record Case(ConvGeometry Geometry, int[] XShape, int[] WShape, bool Bias)
    {
        public override string ToString() =>
            $"x {Shapes.Format(XShape)} w {Shapes.Format(WShape)} stride {Shapes.Format(Geometry.Stride.AsSpan())} " +
            $"pad {Shapes.Format(Geometry.PaddingBefore.AsSpan())}/{Shapes.Format(Geometry.PaddingAfter.AsSpan())} " +
            $"dil {Shapes.Format(Geometry.Dilation.AsSpan())} groups {Geometry.Groups}";
    }

    internal static Case RandomCase(Random rng)
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
            int extra = rng.Next(0, dims == 3 ? 5 : dims == 2 ? 12 : 40);
            inp[a] = Math.Max(1, span - pb[a] - pa[a] + extra);
        }
        int groups, cg, kg;
        int kind = rng.Next(10);
        if (kind < 2)
        {
            groups = rng.Next(2, 8);
            cg = kg = 1;
        }
        else if (kind < 4)
        {
            // Tens of channels with tails of 8- and 16-channel blocks: the direct blocked kernels on AVX2 and AVX-512.
            groups = 1;
            cg = rng.Next(8, 41);
            kg = rng.Next(1, 41);
        }
        else if (kind == 4)
        {
            // Groups of whole blocks (16 channels: whole for both block sizes), which the blocked kernels also take.
            groups = 2;
            cg = 16;
            kg = 16 * rng.Next(1, 3);
        }
        else
        {
            groups = rng.Next(1, 4);
            cg = rng.Next(1, 8);
            kg = rng.Next(1, 15);
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

    private static void AssertClose(Tensor<float> expected, Tensor<float> actual, bool exact, string what)
    {
        var e = expected.ReadOnlySpan;
        var a = actual.ReadOnlySpan;
        Assert.Equal(e.Length, a.Length);
        double maxE = 0, maxErr = 0;
        for (int i = 0; i < e.Length; i++)
        {
            maxE = Math.Max(maxE, Math.Abs(e[i]));
            maxErr = Math.Max(maxErr, Math.Abs((double)e[i] - a[i]));
            Assert.False(float.IsNaN(a[i]), $"{what}: NaN at {i}");
        }
        if (exact)
        {
            Assert.True(maxErr == 0, $"{what}: integer inputs must give exactly the reference result; max error {maxErr}");
        }
        else
        {
            Assert.True(Tolerance.Within(maxErr, maxE), $"{what}: max error {maxErr:e3} against scale {1 + maxE:g4}");
        }
    }

    private static void CheckAllPasses(Case c, int seed, bool integer, ConvOptions fast)
    {
        var rng = new Random(seed);
        var g = c.Geometry;
        var x = Random(rng, c.XShape, integer);
        var w = Random(rng, c.WShape, integer);
        var b = c.Bias ? Random(rng, [c.WShape[0]], integer) : null;
        int[] yShape = g.ConvOutputShape(c.XShape, c.WShape);
        var dy = Random(rng, yShape, integer);
        AssertClose(Conv.Forward(x, w, b, g, Reference), Conv.Forward(x, w, b, g, fast), integer, $"forward {c}");
        AssertClose(Conv.BackwardData(dy, w, g, c.XShape, Reference), Conv.BackwardData(dy, w, g, c.XShape, fast), integer, $"dx {c}");
        AssertClose(Conv.BackwardWeight(x, dy, g, c.WShape, Reference), Conv.BackwardWeight(x, dy, g, c.WShape, fast), integer, $"dw {c}");
    }

    public static TheoryData<ConvIsa> Tiers() => IsaTierCases.Data();

    [SkippableTheory]
    [MemberData(nameof(Tiers))]
    public void AllPasses_MatchReference_OnRandomGeometries(ConvIsa isa)
    {
        var fast = IsaTierCases.Fast(isa, 1);
        Gen.Int.Sample(seed =>
        {
            var c = RandomCase(new Random(seed));
            CheckAllPasses(c, seed, integer: false, fast);
        }, iter: 150, threads: 1);
    }

    [SkippableTheory]
    [MemberData(nameof(Tiers))]
    public void AllPasses_AreExact_OnIntegerValuedInputs(ConvIsa isa)
    {
        var fast = IsaTierCases.Fast(isa, 2);
        Gen.Int.Sample(seed =>
        {
            var c = RandomCase(new Random(seed));
            CheckAllPasses(c, seed, integer: true, fast);
        }, iter: 150, threads: 1);
    }

    /// <summary>
    /// "Same" padding at stride 1 (output as wide as the input, split unevenly before/after for even spans): the im2col
    /// packer copies runs across row ends and then zeroes the border columns. 1-3 D, dilation 1-3, widths 1-40
    /// (including widths not above the tap offsets, which take the row-by-row path), batch 1-3, groups, integer inputs
    /// so that every element must come out exactly.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(Tiers))]
    public void AllPasses_AreExact_WithSamePaddingAtStrideOne(ConvIsa isa)
    {
        ConvOptions fast1 = IsaTierCases.Fast(isa, 1), fast2 = IsaTierCases.Fast(isa, 2);
        Gen.Int.Sample(seed =>
        {
            var rng = new Random(seed);
            int dims = rng.Next(1, 4);
            int[] ones = Enumerable.Repeat(1, dims).ToArray();
            int[] dil = new int[dims], pb = new int[dims], pa = new int[dims], ker = new int[dims], inp = new int[dims];
            for (int a = 0; a < dims; a++)
            {
                dil[a] = rng.Next(1, 4);
                ker[a] = rng.Next(1, dims == 3 ? 4 : 6);
                int total = dil[a] * (ker[a] - 1);
                pb[a] = total / 2;
                pa[a] = total - pb[a];
                inp[a] = rng.Next(1, a == dims - 1 ? 41 : dims == 3 ? 6 : 12);
            }
            int groups = rng.Next(1, 3), cg = rng.Next(1, 6), kg = rng.Next(1, 9);
            var g = new ConvGeometry(ones, pb, pa, dil, groups);
            var c = new Case(g, [rng.Next(1, 4), cg * groups, .. inp], [kg * groups, cg, .. ker], rng.Next(2) == 0);
            CheckAllPasses(c, seed, integer: true, rng.Next(2) == 0 ? fast1 : fast2);
        }, iter: 120, threads: 1);
    }

    /// <summary>The two 1×1 rows above take the two forward B paths (packed for small images, X read in place otherwise).</summary>
    [Fact]
    public void OneByOne_Forward_ReadsInPlace_OnlyForLargeImages()
    {
        var g = ConvGeometry.Uniform(2, stride: 1, padding: 0);
        Assert.False(ForwardGemm.ReadsInPlace(ConvProblem.ForConv(g, [1, 260, 5, 5], [7, 260, 1, 1])));
        Assert.True(ForwardGemm.ReadsInPlace(ConvProblem.ForConv(g, [2, 260, 23, 23], [7, 260, 1, 1])));
        Assert.False(ForwardGemm.ReadsInPlace(ConvProblem.ForConv(ConvGeometry.Uniform(2, stride: 2, padding: 0), [2, 260, 46, 46], [7, 260, 1, 1])));
    }

    /// <summary>
    /// Sizes past every blocking boundary of every tier's tile: M &gt; MC and not a multiple of MR, N &gt; NC and not a
    /// multiple of NR, reductions &gt; KC. One row per (shape, tier).
    /// </summary>
    public static TheoryData<ConvIsa, int, int, int, int, int, int, int, int> BlockingBoundaryCases()
    {
        int[][] shapes =
        [
            [1, 30, 46, 46, 150, 3, 1, 1],  // fwd: M=150>MC, N=2116>NC, C·R=270>KC; dx: K·taps = 1350
            [2, 7, 37, 29, 13, 5, 2, 2],  // stride 2, 5x5 dilated: unequal phases, edge tiles everywhere
            [1, 260, 5, 5, 7, 1, 1, 1],  // 1x1 stride 1 on a small image: packed, reduction 260 > KC, N = 25 (edge panel)
            [2, 260, 23, 23, 7, 1, 1, 1],  // 1x1 stride 1: B read in place (529 >= 512 positions), reduction > KC, edge panel
            [2, 64, 9, 11, 20, 1, 3, 1],  // 1x1 stride 3: 8 of 9 phases empty (exact zeros)
            [2, 3, 70, 75, 10, 7, 2, 1],  // stem-like: 3 channels, 7x7 stride 2 (direct few-channel dX, 32-wide vectors)
            [3, 1, 20, 41, 9, 3, 1, 1],  // one input channel, rows wider than 32
            [2, 40, 30, 31, 100, 3, 1, 1],  // M = 100 (12x32: 8 full row tiles + 4), N = 1860 (ragged last 32- and 48-wide panels)
            [1, 97, 13, 70, 26, 1, 1, 1],  // 1x1 in place (910 positions): reduction 97, ragged 32- and 48-wide panels
            [1, 20, 12, 12, 205, 3, 1, 1],  // M = 205 > MC of every tier (192 for AVX-512), not a multiple of any MR
        ];
        var data = new TheoryData<ConvIsa, int, int, int, int, int, int, int, int>();
        foreach (var isa in IsaTierCases.All)
        {
            foreach (var r in shapes)
            {
                data.Add(isa, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
            }
        }
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(BlockingBoundaryCases))]
    public void AllPasses_MatchReference_AcrossBlockingBoundaries(ConvIsa isa, int n, int c, int h, int w, int k, int r, int s, int d)
    {
        int pad = r / 2 * d;
        var g = new ConvGeometry([s, s], [pad, pad], [pad, pad], [d, d]);
        var cs = new Case(g, [n, c, h, w], [k, c, r, r], true);
        CheckAllPasses(cs, 7, integer: false, IsaTierCases.Fast(isa, 2));
        CheckAllPasses(cs, 8, integer: true, IsaTierCases.Fast(isa, 1));
    }

    /// <summary>
    /// On a fresh thread (an empty workspace), a strided dX whose phases have fewer taps than the kernel: a phase's
    /// reduction block (2 taps × 128 = 256, one block) is deeper than the whole kernel's (9 × 128 = 1152, blocks of 231),
    /// so a workspace sized from the whole kernel alone would overflow.
    /// </summary>
    [Fact]
    public void BackwardData_PhaseBlocks_FitTheWorkspace_OnAFreshThread()
    {
        var g = ConvGeometry.Uniform(2, stride: 2, padding: 1);
        var rng = new Random(4);
        var w = Random(rng, [128, 8, 3, 3], true);
        var dy = Random(rng, [1, 128, 5, 5], true);
        Tensor<float>? fast = null;
        Exception? error = null;
        var t = new Thread(() =>
        {
            try
            {
                fast = Conv.BackwardData(dy, w, g, [1, 8, 9, 9], Fast1);
            }
            catch (Exception e)
            {
                error = e;
            }
        });
        t.Start();
        t.Join();
        Assert.Null(error);
        AssertClose(Conv.BackwardData(dy, w, g, [1, 8, 9, 9], Reference), fast!, true, "dx");
    }

    [Fact]
    public void TransposedConvolution_WithOutputPaddingAtLeastStride_MatchesReference()
    {
        // output padding 2 >= stride 1 (allowed since dilation is 3): the problem's Out is smaller than the forward formula gives.
        var g = new ConvGeometry([1, 2], [1, 0], [0, 2], [3, 2], groups: 2, outputPadding: [2, 1]);
        var rng = new Random(3);
        var x = Random(rng, [2, 4, 6, 7], false);
        var w = Random(rng, [4, 3, 3, 2], false);
        var b = Random(rng, [6], false);
        var y = ConvTranspose.Forward(x, w, b, g, Reference);
        AssertClose(y, ConvTranspose.Forward(x, w, b, g, Fast2), false, "transposed forward");
        var dy = Random(rng, y.Shape.ToArray(), false);
        AssertClose(ConvTranspose.BackwardData(dy, w, g, x.Shape, Reference), ConvTranspose.BackwardData(dy, w, g, x.Shape, Fast1), false, "transposed dx");
        AssertClose(ConvTranspose.BackwardWeight(x, dy, g, w.Shape, Reference), ConvTranspose.BackwardWeight(x, dy, g, w.Shape, Fast1), false, "transposed dw");
    }

    /// <summary>Each pass split into 1, 2 or 3 static parts (what the worker pool runs) gives the same bits, on every tier.</summary>
    [SkippableTheory]
    [MemberData(nameof(Tiers))]
    public unsafe void AllPasses_AreBitwiseEqual_ForAnyNumberOfParts(ConvIsa isa)
    {
        var tier = IsaTierCases.Tier(isa);
        Gen.Int.Sample(seed =>
        {
            var rng = new Random(seed);
            var c = RandomCase(rng);
            var p = ConvProblem.ForConv(c.Geometry, c.XShape, c.WShape);
            var x = Random(rng, c.XShape, false);
            var w = Random(rng, c.WShape, false);
            var b = Random(rng, [c.WShape[0]], false);
            var dy = Random(rng, p.OutputShape, false);
            float[][] results = new float[9][];
            for (int parts = 1; parts <= 3; parts++)
            {
                var y = Tensor<float>.Uninitialized(p.OutputShape);
                var dx = Tensor<float>.Uninitialized(p.InputShape);
                var dw = Tensor<float>.Uninitialized(p.WeightShape);
                dx.Fill(float.NaN);
                fixed (float* px = x.Span, pw = w.Span, pb = b.Span, pdy = dy.Span, py = y.Span, pdx = dx.Span, pdw = dw.Span)
                {
                    for (int part = 0; part < parts; part++)
                    {
                        Plan(p, ConvPass.Forward, tier).RunPart(px, pw, pb, py, part, parts);
                        Plan(p, ConvPass.BackwardData, tier).RunPart(pdy, pw, null, pdx, part, parts);
                        Plan(p, ConvPass.BackwardWeight, tier).RunPart(px, pdy, null, pdw, part, parts);
                    }
                }
                results[3 * (parts - 1)] = y.ToArray();
                results[3 * (parts - 1) + 1] = dx.ToArray();
                results[3 * (parts - 1) + 2] = dw.ToArray();
            }
            for (int i = 3; i < 9; i++)
            {
                Assert.True(results[i % 3].AsSpan().SequenceEqual(results[i]), $"pass {i % 3} differs with {i / 3 + 1} parts: {c}");
            }
        }, iter: 60, threads: 1);
    }

    /// <summary>The random cases of the property tests reach the direct blocked kernels on the vector tiers (and never on portable).</summary>
    [SkippableTheory]
    [MemberData(nameof(Tiers))]
    public void RandomCases_ReachTheDirectBlockedKernel_OnVectorTiers(ConvIsa isa)
    {
        var tier = IsaTierCases.Tier(isa);
        int blocked = 0;
        for (int seed = 0; seed < 100; seed++)
        {
            var c = RandomCase(new Random(seed));
            var p = ConvProblem.ForConv(c.Geometry, c.XShape, c.WShape);
            foreach (var pass in new[] { ConvPass.Forward, ConvPass.BackwardData, ConvPass.BackwardWeight })
            {
                blocked += ConvPlanner.Plan(p, pass, tier, 2).Kernel is ConvKernel.DirectBlocked or ConvKernel.FirstLayer ? 1 : 0;
            }
        }
        if (tier == IsaTier.Portable)
        {
            Assert.Equal(0, blocked);
        }
        else
        {
            Assert.True(blocked >= 30, $"only {blocked} of 300 random passes take the direct blocked kernel on {tier}");
        }
    }

    /// <summary>
    /// The plan's own kernel, except that depthwise and direct blocked problems (which split their work themselves, and
    /// whose thread-count independence BlockedConvTests and the one-and-two-threads test check) run the GEMM here.
    /// </summary>
    private static ConvPlan Plan(ConvProblem p, ConvPass pass, IsaTier tier)
    {
        var plan = ConvPlanner.Plan(p, pass, tier, 1);
        return plan.Kernel is ConvKernel.DepthwiseBlocked8 or ConvKernel.DepthwiseRows or ConvKernel.DirectBlocked or ConvKernel.FirstLayer ? ConvPlanner.WithKernel(p, pass, tier, ConvKernel.Gemm, 1) : plan;
    }

    [SkippableTheory]
    [MemberData(nameof(Tiers))]
    public void AllPasses_AreBitwiseEqual_WithOneAndTwoThreads(ConvIsa isa)
    {
        ConvOptions fast1 = IsaTierCases.Fast(isa, 1), fast2 = IsaTierCases.Fast(isa, 2);
        var g = new ConvGeometry([2, 2], [1, 1], [1, 1], [1, 1]);
        var rng = new Random(11);
        var x = Random(rng, [3, 24, 30, 30], false);
        var w = Random(rng, [40, 24, 3, 3], false);
        var b = Random(rng, [40], false);
        var y1 = Conv.Forward(x, w, b, g, fast1);
        var dy = Random(rng, y1.Shape.ToArray(), false);
        Assert.Equal(y1.ToArray(), Conv.Forward(x, w, b, g, fast2).ToArray());
        Assert.Equal(Conv.BackwardData(dy, w, g, x.Shape, fast1).ToArray(), Conv.BackwardData(dy, w, g, x.Shape, fast2).ToArray());
        Assert.Equal(Conv.BackwardWeight(x, dy, g, w.Shape, fast1).ToArray(), Conv.BackwardWeight(x, dy, g, w.Shape, fast2).ToArray());
    }

    [Fact]
    public void ConcurrentCalls_FromSeveralThreads_GiveTheSameResults()
    {
        var g = new ConvGeometry([1, 2], [1, 0], [2, 1], [1, 2], groups: 2);
        var rng = new Random(5);
        var x = Random(rng, [2, 16, 26, 33], false);
        var w = Random(rng, [24, 8, 3, 4], false);
        var y0 = Conv.Forward(x, w, null, g, Fast1);
        var dy = Random(rng, y0.Shape.ToArray(), false);
        var dx0 = Conv.BackwardData(dy, w, g, x.Shape, Fast1);
        var dw0 = Conv.BackwardWeight(x, dy, g, w.Shape, Fast1);
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            var o = t % 2 == 0 ? Fast2 : Fast1;
            for (int i = 0; i < 12; i++)
            {
                if (!Conv.Forward(x, w, null, g, o).ReadOnlySpan.SequenceEqual(y0.ReadOnlySpan)) failures.Add($"forward t{t} i{i}");
                if (!Conv.BackwardData(dy, w, g, x.Shape, o).ReadOnlySpan.SequenceEqual(dx0.ReadOnlySpan)) failures.Add($"dx t{t} i{i}");
                if (!Conv.BackwardWeight(x, dy, g, w.Shape, o).ReadOnlySpan.SequenceEqual(dw0.ReadOnlySpan)) failures.Add($"dw t{t} i{i}");
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Empty(failures);
    }

    /// <summary>
    /// Every tier's register tile computes, for every element, the FMA chain over k in order (from C, the row's bias
    /// or 0): the same bits as a scalar <c>MathF.FusedMultiplyAdd</c> chain, and close to a float64 dot product.
    /// </summary>
    [SkippableTheory]
    [InlineData("gemm12x32 avx512", 1, 32)]
    [InlineData("gemm12x32 avx512", 5, 40)]
    [InlineData("gemm12x32 avx512", 256, 70)]
    [InlineData("gemm8x48 avx512", 3, 48)]
    [InlineData("gemm8x48 avx512", 193, 50)]
    [InlineData("gemm6x16 avx2", 1, 16)]
    [InlineData("gemm6x16 avx2", 3, 16)]
    [InlineData("gemm6x16 avx2", 4, 21)]
    [InlineData("gemm6x16 avx2", 7, 16)]
    [InlineData("gemm6x16 avx2", 256, 40)]
    [InlineData("gemm6x8 portable", 1, 8)]
    [InlineData("gemm6x8 portable", 130, 11)]
    public void Tile_EqualsScalarFmaChain(string tile, int kc, int ldb)
    {
        switch (tile)
        {
            case "gemm12x32 avx512": CheckTile<Tile12x32Avx512>(kc, ldb); break;
            case "gemm8x48 avx512": CheckTile<Tile8x48Avx512>(kc, ldb); break;
            case "gemm6x16 avx2": CheckTile<Tile6x16Avx2>(kc, ldb); break;
            default: CheckTile<Tile6x8Portable>(kc, ldb); break;
        }
    }

    private static unsafe void CheckTile<TK>(int kc, int ldb) where TK : struct, IGemmTile
    {
        IsaTierCases.SkipUnlessSupported(IsaTiers.ToPublic(TK.Tier));
        int mr = TK.MR, nr = TK.NR, ldc = nr + 3;
        var rng = new Random(kc * 31 + nr);
        float[] a = Enumerable.Range(0, kc * mr).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        float[] b = Enumerable.Range(0, kc * ldb).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        float[] bias = Enumerable.Range(0, mr).Select(_ => (float)rng.NextDouble()).ToArray();
        for (int mode = 0; mode < 3; mode++)
        {
            float[] c = Enumerable.Range(0, mr * ldc).Select(_ => (float)rng.NextDouble()).ToArray();
            float[] expected = (float[])c.Clone();
            for (int i = 0; i < mr; i++)
            {
                for (int j = 0; j < nr; j++)
                {
                    float acc = mode == 2 ? c[i * ldc + j] : mode == 1 ? bias[i] : 0f;
                    double dot = acc;
                    for (int k = 0; k < kc; k++)
                    {
                        acc = MathF.FusedMultiplyAdd(a[k * mr + i], b[k * ldb + j], acc);
                        dot += (double)a[k * mr + i] * b[k * ldb + j];
                    }
                    expected[i * ldc + j] = acc;
                    Assert.True(Tolerance.Within(Math.Abs(dot - acc), Math.Abs(dot)), $"{TK.Name}: scalar chain {acc} vs {dot}");
                }
            }
            fixed (float* pa = a, pb = b, pbias = bias, pc = c)
            {
                TK.Run(kc, pa, pb, ldb, pc, ldc, mode == 1 ? pbias : null, mode == 2);
            }
            Assert.Equal(expected, c);
        }
    }

    [Fact]
    public void SeedCase_WarmCalls_AllocateNothingBeyondTheOutput()
    {
        var g = ConvGeometry.Uniform(2, stride: 2);
        var rng = new Random(1);
        var x = Random(rng, [1, 1, 4, 4], false);
        var w = Random(rng, [1, 1, 2, 2], false);
        var b = Random(rng, [1], false);
        var y = Tensor<float>.Uninitialized(1, 1, 2, 2);
        var dy = Random(rng, [1, 1, 2, 2], false);
        var dx = Tensor<float>.Uninitialized(1, 1, 4, 4);
        var dw = Tensor<float>.Uninitialized(1, 1, 2, 2);
        var o = ConvOptions.Default;
        for (int i = 0; i < 3; i++)
        {
            Conv.Forward(x, w, b, g, y, o);
            Conv.BackwardData(dy, w, g, dx, o);
            Conv.BackwardWeight(x, dy, g, dw, o);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        Conv.Forward(x, w, b, g, y, o);
        long afterForward = GC.GetAllocatedBytesForCurrentThread();
        Conv.BackwardData(dy, w, g, dx, o);
        long afterData = GC.GetAllocatedBytesForCurrentThread();
        Conv.BackwardWeight(x, dy, g, dw, o);
        long afterWeight = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(0, afterForward - before);
        Assert.Equal(0, afterData - afterForward);
        Assert.Equal(0, afterWeight - afterData);
        AssertClose(Conv.Forward(x, w, b, g, Reference), y, false, "seed forward");
    }

    [Fact]
    public void Fast_IsTheDefaultEngine() => Assert.Equal(ConvEngine.Fast, ConvOptions.Default.Engine);

    [Fact]
    public void Describe_NamesThePhasesOfAStridedBackwardData()
    {
        var p = ConvProblem.ForConv(ConvGeometry.Uniform(2, stride: 2), [1, 4, 8, 8], [4, 4, 1, 1]);
        string text = FastBackend.Instance.Describe(p, ConvPass.BackwardData);
        Assert.Contains(FastBackend.GemmKernelName(IsaTiers.Best), text);
        Assert.Contains("4 phases", text);
        Assert.Contains("3 phase(s) receive no tap", text);
        Assert.True(FastBackend.Instance.WorkspaceBytes(p, ConvPass.BackwardData, 2) > 0);
    }
}
