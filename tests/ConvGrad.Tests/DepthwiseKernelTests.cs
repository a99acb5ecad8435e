using ConvGrad.Cpu.Depthwise;
using ConvGrad.Reference;
using CsCheck;

namespace ConvGrad.Tests;

/// <summary>The direct depthwise kernels (vector and scalar paths) against the float64 reference.</summary>
public class DepthwiseKernelTests
{
    /// <summary>A random depthwise problem with its tensors.</summary>
    private sealed record Case(ConvProblem P, float[] X, float[] W, float[] B, float[] Dy, string Text);

    private static readonly bool[] Paths = DepthwiseKernels.VectorPath ? [true, false] : [false];

    /// <summary>1-3 D, stride 1-4, dilation 1-3, asymmetric padding, multiplier 1-2, batch 1-3, widths 1-40.</summary>
    private static Case RandomCase(int seed, bool integers, bool transposed = false, bool channelBlocks = false)
    {
        var r = new Random(seed);
        int dims = channelBlocks ? r.Next(1, 3) : r.Next(1, 4);
        var ker = new int[dims];
        var stride = new int[dims];
        var dil = new int[dims];
        var pb = new int[dims];
        var pa = new int[dims];
        var size = new int[dims];
        var op = new int[dims];
        for (int a = 0; a < dims; a++)
        {
            bool width = a == dims - 1;
            ker[a] = r.Next(1, dims == 3 ? 4 : 6);
            stride[a] = r.Next(1, 5);
            dil[a] = r.Next(1, 4);
            pb[a] = r.Next(0, 4);
            pa[a] = r.Next(0, 4);
            int span = dil[a] * (ker[a] - 1) + 1;
            if (transposed)
            {
                // The transposed output (in−1)s + span + op − pb − pa must stay >= 1; output padding < max(stride, dilation).
                size[a] = r.Next(1, width ? 20 : 5);
                op[a] = r.Next(0, Math.Max(stride[a], dil[a]));
                int room = (size[a] - 1) * stride[a] + span + op[a] - 1;
                pb[a] = Math.Min(pb[a], room);
                pa[a] = Math.Min(pa[a], room - pb[a]);
            }
            else
            {
                int need = Math.Max(1, span - pb[a] - pa[a]);
                size[a] = need + r.Next(0, width ? 40 : (dims == 3 ? 5 : 9));
            }
        }
        int c = channelBlocks ? r.Next(8, 21) : r.Next(1, 5), mult = channelBlocks ? 1 : r.Next(1, 3), n = r.Next(1, 4);
        var g = new ConvGeometry(stride, pb, pa, dil, groups: c, outputPadding: transposed ? op : default);
        ConvProblem p = transposed
            ? ConvProblem.ForTranspose(g, [n, c * mult, .. size], [c * mult, 1, .. ker])
            : ConvProblem.ForConv(g, [n, c, .. size], [c * mult, 1, .. ker]);
        float[] Fill(int[] shape) =>
            Enumerable.Range(0, (int)Shapes.Product(shape))
                .Select(_ => integers ? r.Next(-3, 4) : (float)(r.NextDouble() * 2 - 1)).ToArray();
        string text = $"seed {seed}: {(transposed ? "transposed " : "")}x {Shapes.Format(p.InputShape)} w {Shapes.Format(p.WeightShape)} {g}";
        return new Case(p, Fill(p.InputShape), Fill(p.WeightShape), Fill([p.K]), Fill(p.OutputShape), text);
    }

    private static float[] Nans(int[] shape) => Enumerable.Repeat(float.NaN, (int)Shapes.Product(shape)).ToArray();

    private static void AssertClose(float[] expected, float[] actual, bool exact, string what)
    {
        double scale = 1 + expected.Select(v => Math.Abs((double)v)).DefaultIfEmpty(0).Max();
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs((double)expected[i] - actual[i]);
            if (exact ? !(err == 0) : !(err <= Tolerance.Relative * scale))
            {
                Assert.Fail($"{what}: element {i} is {actual[i]}, expected {expected[i]} (|e| max {scale - 1})");
            }
        }
    }

    private static void CheckAllPasses(Case k, bool exact)
    {
        var p = k.P;
        var yRef = new float[k.Dy.Length];
        var dxRef = new float[k.X.Length];
        var dwRef = new float[k.W.Length];
        ReferenceConvolution.Forward<float>(p, k.X, k.W, k.B, yRef);
        ReferenceConvolution.BackwardData<float>(p, k.Dy, k.W, dxRef);
        ReferenceConvolution.BackwardWeight<float>(p, k.X, k.Dy, dwRef);
        foreach (bool vector in Paths)
        {
            string path = vector ? "vector" : "scalar";
            var y = Nans(p.OutputShape);
            DepthwiseKernels.Forward(p, k.X, k.W, k.B, y, threads: 2, vector);
            AssertClose(yRef, y, exact, $"forward ({path}) {k.Text}");
            var yNoBias = Nans(p.OutputShape);
            var yNoBiasRef = new float[yRef.Length];
            ReferenceConvolution.Forward<float>(p, k.X, k.W, default, yNoBiasRef);
            DepthwiseKernels.Forward(p, k.X, k.W, default, yNoBias, threads: 1, vector);
            AssertClose(yNoBiasRef, yNoBias, exact, $"forward without bias ({path}) {k.Text}");
            var dx = Nans(p.InputShape);
            DepthwiseKernels.BackwardData(p, k.Dy, k.W, dx, threads: 2, vector);
            AssertClose(dxRef, dx, exact, $"backward-data ({path}) {k.Text}");
            var dw = Nans(p.WeightShape);
            DepthwiseKernels.BackwardWeight(p, k.X, k.Dy, dw, threads: 2, vector);
            AssertClose(dwRef, dw, exact, $"backward-weight ({path}) {k.Text}");
        }
    }

    [Fact]
    public void AllPasses_MatchReference_OnRandomGeometries() =>
        Gen.Int[0, int.MaxValue].Sample(seed => CheckAllPasses(RandomCase(seed, integers: false), exact: false), iter: 150);

    [Fact]
    public void AllPasses_AreExact_OnIntegerValuedInputs() =>
        Gen.Int[0, int.MaxValue].Sample(seed => CheckAllPasses(RandomCase(seed, integers: true), exact: true), iter: 150);

    /// <summary>
    /// At least eight channels, multiplier 1, 1-D or 2-D: all three passes run on 8-channel blocks (dX when a stride
    /// exceeds 1; a last partial block when C is not a multiple of 8), with strides 1-4, dilations, asymmetric padding
    /// and widths that leave 1-7 pixels.
    /// </summary>
    [Fact]
    public void ChannelBlockedPasses_MatchReference() =>
        Gen.Int[0, int.MaxValue].Sample(seed =>
        {
            foreach (bool integers in new[] { true, false })
            {
                var k = RandomCase(seed, integers, channelBlocks: true);
                if (DepthwiseKernels.VectorPath)
                {
                    Assert.True(DepthwiseForwardChannelBlocked.Applies(k.P), k.Text);
                    Assert.True(DepthwiseBackwardWeightChannelBlocked.Applies(k.P), k.Text);
                    Assert.Equal(k.P.Stride[1] > 1 || k.P.Stride[2] > 1, DepthwiseBackwardDataChannelBlocked.Applies(k.P));
                }
                CheckAllPasses(k, exact: integers);
            }
        }, iter: 60);

    [Fact]
    public void TransposedProblems_WithOneOutputChannelPerGroup_MatchReference() =>
        Gen.Int[0, int.MaxValue].Sample(seed =>
        {
            var k = RandomCase(seed, integers: true, transposed: true);
            Assert.True(DepthwiseKernels.Applies(k.P), k.Text);
            CheckAllPasses(k, exact: true);
        }, iter: 100);

    [Fact]
    public void TransposedForward_EqualsConvTransposeReference()
    {
        // ConvTranspose with groups = C_out: its forward is this problem's backward-data, run through the public API.
        var g = new ConvGeometry([2, 2], [1, 0], [0, 1], [1, 2], groups: 3, outputPadding: [1, 1]);
        var r = new Random(5);
        var x = Tensor<float>.FromArray(Enumerable.Range(0, 2 * 6 * 9 * 11).Select(_ => (float)r.Next(-4, 5)).ToArray(), 2, 6, 9, 11);
        var w = Tensor<float>.FromArray(Enumerable.Range(0, 6 * 1 * 3 * 3).Select(_ => (float)r.Next(-4, 5)).ToArray(), 6, 1, 3, 3);
        var expected = ConvTranspose.Forward(x, w, null, g, new ConvOptions { Engine = ConvEngine.Reference });
        var p = ConvProblem.ForTranspose(g, x.Shape, w.Shape);
        Assert.True(DepthwiseKernels.Applies(p));
        foreach (bool vector in Paths)
        {
            var y = Nans(p.TransposeOutputShape);
            DepthwiseKernels.BackwardData(p, x.ReadOnlySpan, w.ReadOnlySpan, y, threads: 2, vector);
            Assert.Equal(expected.ToArray(), y);
        }
    }

    [Theory]
    [InlineData(1, 1)]   // mbv2-dw3x3-28 shape, smaller batch
    [InlineData(2, 2)]   // mbv2-dw3x3s2-56 style, multiplier 2
    [InlineData(3, 1)]
    public void Results_AreBitwiseEqual_OnOneAndTwoThreads(int stride, int mult)
    {
        var g = new ConvGeometry([stride, stride], [1, 1], [1, 1], [1, 1], groups: 24);
        var r = new Random(stride * 10 + mult);
        var p = ConvProblem.ForConv(g, [2, 24, 61, 67], [24 * mult, 1, 3, 3]);
        Assert.True(p.MultiplyAdds >= 1L << 17, "the problem must be big enough to be split");
        float[] Fill(int[] shape) => Enumerable.Range(0, (int)Shapes.Product(shape)).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
        float[] x = Fill(p.InputShape), w = Fill(p.WeightShape), b = Fill([p.K]), dy = Fill(p.OutputShape);
        foreach (bool vector in Paths)
        {
            float[] Run(int threads, int pass)
            {
                switch (pass)
                {
                    case 0: { var y = Nans(p.OutputShape); DepthwiseKernels.Forward(p, x, w, b, y, threads, vector); return y; }
                    case 1: { var dx = Nans(p.InputShape); DepthwiseKernels.BackwardData(p, dy, w, dx, threads, vector); return dx; }
                    default: { var dw = Nans(p.WeightShape); DepthwiseKernels.BackwardWeight(p, x, dy, dw, threads, vector); return dw; }
                }
            }
            for (int pass = 0; pass < 3; pass++)
            {
                var one = Run(1, pass);
                var two = Run(2, pass);
                Assert.Equal(one.Select(BitConverter.SingleToInt32Bits), two.Select(BitConverter.SingleToInt32Bits));
                Assert.Equal(one.Select(BitConverter.SingleToInt32Bits), Run(3, pass).Select(BitConverter.SingleToInt32Bits));
            }
        }
    }

    [SkippableFact]
    public void VectorAndScalarPaths_AgreeWithinTolerance()
    {
        Skip.IfNot(DepthwiseKernels.VectorPath, "no AVX2/FMA on this machine: only the scalar path exists (the other tests cover it)");
        for (int seed = 0; seed < 40; seed++)
        {
            var k = RandomCase(seed, integers: false);
            var p = k.P;
            float[] yv = Nans(p.OutputShape), ys = Nans(p.OutputShape), dxv = Nans(p.InputShape), dxs = Nans(p.InputShape), dwv = Nans(p.WeightShape), dws = Nans(p.WeightShape);
            DepthwiseKernels.Forward(p, k.X, k.W, k.B, yv, 1, vector: true);
            DepthwiseKernels.Forward(p, k.X, k.W, k.B, ys, 1, vector: false);
            DepthwiseKernels.BackwardData(p, k.Dy, k.W, dxv, 1, vector: true);
            DepthwiseKernels.BackwardData(p, k.Dy, k.W, dxs, 1, vector: false);
            DepthwiseKernels.BackwardWeight(p, k.X, k.Dy, dwv, 1, vector: true);
            DepthwiseKernels.BackwardWeight(p, k.X, k.Dy, dws, 1, vector: false);
            AssertClose(ys, yv, false, $"forward {k.Text}");
            AssertClose(dxs, dxv, false, $"backward-data {k.Text}");
            AssertClose(dws, dwv, false, $"backward-weight {k.Text}");
        }
    }

    [Fact]
    public void Stride2_UnreachedInputs_GetExactZeroGradient_AndNeverReachWeightGradient()
    {
        // 1x1 kernel, stride 2, width 9: odd columns and rows are read by no output.
        var g = new ConvGeometry([2, 2], [0, 0], [0, 0], [1, 1], groups: 2);
        var p = ConvProblem.ForConv(g, [1, 2, 9, 9], [2, 1, 1, 1]);
        var x = new float[p.InputShape.Aggregate(1, (a, b) => a * b)];
        for (int i = 0; i < x.Length; i++)
        {
            int col = i % 9, row = i / 9 % 9;
            x[i] = col % 2 == 1 || row % 2 == 1 ? float.PositiveInfinity : 1f;
        }
        var dy = Enumerable.Repeat(1f, 2 * 5 * 5).ToArray();
        float[] w = [2f, 3f];
        foreach (bool vector in Paths)
        {
            var dx = Nans(p.InputShape);
            DepthwiseKernels.BackwardData(p, dy, w, dx, 1, vector);
            for (int i = 0; i < dx.Length; i++)
            {
                int col = i % 9, row = i / 9 % 9;
                Assert.Equal(col % 2 == 1 || row % 2 == 1 ? 0f : w[i / 81], dx[i]);
            }
            var dw = Nans(p.WeightShape);
            DepthwiseKernels.BackwardWeight(p, x, dy, dw, 1, vector);
            Assert.Equal([25f, 25f], dw);
        }
    }

    [Fact]
    public void Applies_OnlyWithOneInputChannelPerGroup()
    {
        var dw = ConvProblem.ForConv(ConvGeometry.Uniform(2, groups: 4), [1, 4, 5, 5], [8, 1, 3, 3]);
        var grouped = ConvProblem.ForConv(ConvGeometry.Uniform(2, groups: 2), [1, 4, 5, 5], [4, 2, 3, 3]);
        Assert.True(DepthwiseKernels.Applies(dw));
        Assert.False(DepthwiseKernels.Applies(grouped));
        var e = Assert.Throws<ArgumentException>(() =>
            DepthwiseKernels.Forward(grouped, new float[100], new float[72], default, new float[36], 1));
        Assert.Contains("C/groups", e.Message, StringComparison.Ordinal);
        var len = Assert.Throws<ArgumentException>(() =>
            DepthwiseKernels.Forward(dw, new float[99], new float[72], default, new float[72], 1));
        Assert.Equal("x", len.ParamName);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Describe_NamesTheMethod(int passIndex)
    {
        var pass = (ConvPass)passIndex;
        var p = ConvProblem.ForConv(ConvGeometry.Uniform(2, stride: 2, padding: 1, groups: 8), [1, 8, 12, 12], [8, 1, 3, 3]);
        string text = DepthwiseKernels.Describe(p, pass);
        Assert.Contains("epthwise", text, StringComparison.Ordinal);
        Assert.True(DepthwiseKernels.WorkspaceBytes(p, pass, 2) > 0);
    }
}
