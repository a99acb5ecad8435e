namespace ConvGrad.Tests;

/// <summary>
/// The public <see cref="Conv"/> overloads on <see cref="BlockedTensor"/> activations against the NCHW API: random 1-3 D
/// problems (stride, asymmetric padding, dilation, groups, depthwise, channel tails that are not a whole block) on every
/// vector tier the machine has, integer inputs exactly equal to the reference; the NCHW fallback (reference engine);
/// validation; no allocation per call once the plan exists.
/// </summary>
public class BlockedConvApiTests
{
    public static TheoryData<ConvIsa> VectorTiers() => new() { ConvIsa.Avx512, ConvIsa.Avx2 };

    private static readonly ConvOptions Reference = new() { Engine = ConvEngine.Reference };

    private static Tensor<float> Random(Random rng, int[] shape, bool integer = false)
    {
        var t = Tensor<float>.Uninitialized(shape);
        foreach (ref float v in t.Span)
        {
            v = integer ? rng.Next(-3, 4) : (float)(rng.NextDouble() * 2 - 1);
        }
        return t;
    }

    private static void AssertTailZero(BlockedTensor t)
    {
        int c = t.Shape[1], bs = t.BlockSize, cb = t.ChannelBlocks;
        var s = t.Span;
        for (int n = 0; n < t.Shape[0]; n++)
        {
            var plane = s.Slice(((n * cb) + cb - 1) * t.Spatial * bs, t.Spatial * bs);
            for (int i = 0; i < t.Spatial; i++)
            {
                for (int l = c - (cb - 1) * bs; l < bs; l++)
                {
                    Assert.Equal(0f, plane[i * bs + l]);
                }
            }
        }
    }

    /// <summary>Integer inputs: forward, dX, dW and db through the blocked overloads equal the reference exactly, tails stay zero.</summary>
    [SkippableTheory]
    [MemberData(nameof(VectorTiers))]
    public void BlockedOverloads_IntegerInputs_EqualTheReferenceExactly(ConvIsa isa)
    {
        var options = IsaTierCases.Fast(isa, 2);
        int block = isa == ConvIsa.Avx512 ? 16 : 8;
        var rng = new Random(11);
        for (int i = 0; i < 40; i++)
        {
            var c = BlockedConvTests.RandomCase(rng, block);
            var p = ConvProblem.ForConv(c.Geometry, c.XShape, c.WShape);
            var x = Random(rng, c.XShape, integer: true);
            var w = Random(rng, c.WShape, integer: true);
            var b = c.Bias ? Random(rng, [p.K], integer: true) : null;
            var dy = Random(rng, p.OutputShape, integer: true);

            var y = new BlockedTensor(p.OutputShape, block);
            Conv.Forward(BlockedTensor.FromNchw(x, block), w, b, c.Geometry, y, options);
            Assert.Equal(Conv.Forward(x, w, b, c.Geometry, Reference).ReadOnlySpan.ToArray(), y.ToNchw().ReadOnlySpan.ToArray());
            AssertTailZero(y);

            var dx = new BlockedTensor(p.InputShape, block);
            dx.Span.Fill(float.NaN);
            Conv.BackwardData(BlockedTensor.FromNchw(dy, block), w, c.Geometry, dx, options);
            Assert.Equal(Conv.BackwardData(dy, w, c.Geometry, p.InputShape, Reference).ReadOnlySpan.ToArray(), dx.ToNchw().ReadOnlySpan.ToArray());
            AssertTailZero(dx);

            var dw = Tensor<float>.Uninitialized(c.WShape);
            Conv.BackwardWeight(BlockedTensor.FromNchw(x, block), BlockedTensor.FromNchw(dy, block), c.Geometry, dw, options);
            Assert.Equal(Conv.BackwardWeight(x, dy, c.Geometry, c.WShape, Reference).ReadOnlySpan.ToArray(), dw.ReadOnlySpan.ToArray());

            var db = Tensor<float>.Uninitialized(p.K);
            Conv.BackwardBias(BlockedTensor.FromNchw(dy, block), db);
            Assert.Equal(Conv.BackwardBias(dy).ReadOnlySpan.ToArray(), db.ReadOnlySpan.ToArray());
        }
    }

    /// <summary>Real inputs: the blocked overloads agree with the NCHW API within float rounding, also where they fall back (groups with partial blocks, the reference engine, a block the tier lacks).</summary>
    [Fact]
    public void BlockedOverloads_AgreeWithTheNchwApi_OnEveryEngineAndBlock()
    {
        var rng = new Random(12);
        ConvOptions[] engines = [ConvOptions.Default, Reference, new ConvOptions { MaxIsa = ConvIsa.Portable }];
        for (int i = 0; i < 24; i++)
        {
            int block = i % 2 == 0 ? 8 : 16;
            var c = BlockedConvTests.RandomCase(rng, block);
            if (i % 5 == 0)
            {
                // Groups whose channels are not whole blocks: the blocked kernels do not apply, the call goes through NCHW.
                c = c with { Geometry = new ConvGeometry(c.Geometry.Stride.AsSpan(), c.Geometry.PaddingBefore.AsSpan(), c.Geometry.PaddingAfter.AsSpan(), c.Geometry.Dilation.AsSpan(), 3), XShape = [c.XShape[0], 9, .. c.XShape[2..]], WShape = [6, 3, .. c.WShape[2..]] };
            }
            var options = engines[i % engines.Length];
            var p = ConvProblem.ForConv(c.Geometry, c.XShape, c.WShape);
            var x = Random(rng, c.XShape);
            var w = Random(rng, c.WShape);
            var b = c.Bias ? Random(rng, [p.K]) : null;
            var dy = Random(rng, p.OutputShape);

            var y = new BlockedTensor(p.OutputShape, block);
            Conv.Forward(BlockedTensor.FromNchw(x, block), w, b, c.Geometry, y, options);
            AssertClose(Conv.Forward(x, w, b, c.Geometry, Reference), y.ToNchw(), c.ToString());
            AssertTailZero(y);

            var dx = new BlockedTensor(p.InputShape, block);
            Conv.BackwardData(BlockedTensor.FromNchw(dy, block), w, c.Geometry, dx, options);
            AssertClose(Conv.BackwardData(dy, w, c.Geometry, p.InputShape, Reference), dx.ToNchw(), c.ToString());
            AssertTailZero(dx);

            var dw = Tensor<float>.Uninitialized(c.WShape);
            Conv.BackwardWeight(BlockedTensor.FromNchw(x, block), BlockedTensor.FromNchw(dy, block), c.Geometry, dw, options);
            AssertClose(Conv.BackwardWeight(x, dy, c.Geometry, c.WShape, Reference), dw, c.ToString());
        }
    }

    private static void AssertClose(Tensor<float> expected, Tensor<float> actual, string what)
    {
        Assert.Equal(expected.Shape.ToArray(), actual.Shape.ToArray());
        var e = expected.ReadOnlySpan;
        var a = actual.ReadOnlySpan;
        float scale = 1e-6f;
        for (int i = 0; i < e.Length; i++)
        {
            scale = Math.Max(scale, Math.Abs(e[i]));
        }
        for (int i = 0; i < e.Length; i++)
        {
            Assert.True(Math.Abs(e[i] - a[i]) <= 1e-5f * scale, $"{what}: element {i} is {a[i]}, expected {e[i]}");
        }
    }

    [Fact]
    public void BlockedOverloads_RejectMismatchedBlocksShapesAndInPlace()
    {
        var g = ConvGeometry.Uniform(2, padding: 1);
        var w = Tensor<float>.Zeros(20, 12, 3, 3);
        var x = new BlockedTensor([2, 12, 6, 6], 8);
        var ex = Assert.Throws<ArgumentException>(() => Conv.Forward(x, w, null, g, new BlockedTensor([2, 20, 6, 6], 16)));
        Assert.Equal("y", ex.ParamName);
        Assert.Contains("16", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => Conv.Forward(x, w, null, g, new BlockedTensor([2, 20, 5, 6], 8)));
        Assert.Equal("y", ex.ParamName);
        Assert.Contains("[2, 20, 6, 6]", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => Conv.Forward(x, Tensor<float>.Zeros(20, 11, 3, 3), null, g, new BlockedTensor([2, 20, 6, 6], 8)));
        Assert.Equal("w", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => Conv.Forward(x, w, Tensor<float>.Zeros(19), g, new BlockedTensor([2, 20, 6, 6], 8)));
        Assert.Equal("b", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => Conv.BackwardData(new BlockedTensor([2, 20, 6, 6], 16), w, g, x));
        Assert.Equal("dy", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => Conv.BackwardWeight(x, new BlockedTensor([2, 20, 6, 6], 16), g, Tensor<float>.Zeros(20, 12, 3, 3)));
        Assert.Equal("dy", ex.ParamName);
        var same = new BlockedTensor([2, 12, 6, 6], 8);
        ex = Assert.Throws<ArgumentException>(() => Conv.Forward(same, Tensor<float>.Zeros(12, 12, 3, 3), null, g, same));
        Assert.Equal("y", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => Conv.BackwardBias(new BlockedTensor([2, 20, 6, 6], 8), Tensor<float>.Zeros(12)));
        Assert.Equal("db", ex.ParamName);
    }

    /// <summary>Once a shape's plan exists, the blocked overloads allocate nothing per call (1 and 2 threads).</summary>
    [SkippableTheory]
    [MemberData(nameof(VectorTiers))]
    public void BlockedOverloads_AllocateNothingOncePlanned(ConvIsa isa)
    {
        int block = isa == ConvIsa.Avx512 ? 16 : 8;
        foreach (int threads in new[] { 1, 2 })
        {
            var options = IsaTierCases.Fast(isa, threads);
            var rng = new Random(5);
            var g = ConvGeometry.Uniform(2, padding: 1);
            var x = BlockedTensor.FromNchw(Random(rng, [3, 24, 20, 20]), block);
            var dy = BlockedTensor.FromNchw(Random(rng, [3, 40, 20, 20]), block);
            var w = Random(rng, [40, 24, 3, 3]);
            var b = Random(rng, [40]);
            var y = new BlockedTensor([3, 40, 20, 20], block);
            var dx = new BlockedTensor([3, 24, 20, 20], block);
            var dw = Tensor<float>.Uninitialized(40, 24, 3, 3);
            var db = Tensor<float>.Uninitialized(40);
            Assert.Equal(0, BytesPerCall(() => Conv.Forward(x, w, b, g, y, options)));
            Assert.Equal(0, BytesPerCall(() => Conv.BackwardData(dy, w, g, dx, options)));
            Assert.Equal(0, BytesPerCall(() => Conv.BackwardWeight(x, dy, g, dw, options)));
            Assert.Equal(0, BytesPerCall(() => Conv.BackwardBias(dy, db)));
        }
    }

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
}
