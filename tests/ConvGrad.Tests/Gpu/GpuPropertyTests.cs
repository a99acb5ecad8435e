using ConvGrad.Gpu;
using CsCheck;

namespace ConvGrad.Tests.Gpu;

/// <summary>
/// Random geometries (1-3 D, groups, stride, dilation, asymmetric padding, transposed) through the device API
/// (<see cref="GpuConv"/>, <see cref="GpuConvTranspose"/>) on the CPU accelerator agree with the float64 reference
/// within the golden tolerance; plus the schedule-specific properties (tile edges, split-K, empty phases, determinism).
/// </summary>
[Collection(GpuCollection.Name)]
[Trait("Category", GpuCollection.Trait)]
public class GpuPropertyTests(CpuAcceleratorFixture fixture)
{
    private GpuDevice Device => fixture.Device;

    [Fact]
    public void RandomConvolutions_MatchReference() =>
        Gen.Int[0, int.MaxValue].Sample(seed => CheckConv(RandomCase(seed, transposed: false)), iter: 40, threads: 1, print: s => $"seed {s}: {RandomCase(s, false)}");

    [Fact]
    public void RandomTransposedConvolutions_MatchReference() =>
        Gen.Int[0, int.MaxValue].Sample(seed => CheckTranspose(RandomCase(seed, transposed: true)), iter: 30, threads: 1, print: s => $"seed {s}: {RandomCase(s, true)}");

    [Fact]
    public void SeveralTilesInEveryGemmDimension_MatchReference() =>
        // M = 2·9·9 = 162 rows, K = 70 columns, reduction 35·9 = 315 (all past one 64×64×8 tile, none a multiple of it).
        CheckConv(new Case(new ConvGeometry([1, 1], [1, 0], [0, 1], [1, 1], groups: 2), [2, 70, 9, 9], [70, 35, 3, 3], Bias: true));

    [Fact]
    public void SplitKBackwardWeight_MatchesReference_AndIsBitwiseRepeatable()
    {
        var c = new Case(ConvGeometry.Uniform(2, padding: 1), [2, 3, 24, 24], [5, 3, 3, 3], Bias: false);
        var p = ConvProblem.ForConv(c.Geometry, c.InputShape, c.WeightShape);
        Assert.True(GpuPasses.SplitK(p).Slices > 1, "the case must exercise more than one split-K slice");
        CheckConv(c);

        var (x, dy) = (Random(c.InputShape, 1), Random(p.OutputShape, 2));
        using var dx = Device.Upload(x);
        using var ddy = Device.Upload(dy);
        using var dw = Device.Allocate(p.WeightShape);
        GpuConv.BackwardWeight(dx, ddy, c.Geometry, dw);
        var first = dw.Download().ToArray();
        GpuConv.BackwardWeight(dx, ddy, c.Geometry, dw);
        Assert.Equal(first, dw.Download().ToArray());
    }

    [Fact]
    public void StrideLargerThanKernel_InputsNoOutputReads_GetExactZeroGradient()
    {
        // 1x1 stride 3: phases ρ ≠ 0 have no tap; every dx element there must be written as exactly 0.
        var g = ConvGeometry.Uniform(2, stride: 3);
        int[] xShape = [1, 4, 8, 8], wShape = [6, 4, 1, 1];
        var p = ConvProblem.ForConv(g, xShape, wShape);
        using var dy = Device.Upload(Random(p.OutputShape, 3));
        using var w = Device.Upload(Random(wShape, 4));
        using var dx = Device.Upload(Tensor<float>.FromArray(Enumerable.Repeat(float.NaN, 4 * 64).ToArray(), xShape));
        GpuConv.BackwardData(dy, w, g, dx);
        var got = dx.Download();
        for (int c = 0; c < 4; c++)
        for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
        {
            if (i % 3 != 0 || j % 3 != 0)
            {
                Assert.Equal(0f, got[0, c, i, j]);
            }
        }
        Assert.DoesNotContain(got.ToArray(), float.IsNaN);
    }

    [Fact]
    public void BackwardBias_MatchesReference()
    {
        var dy = Random([3, 5, 7, 6], 5);
        using var ddy = Device.Upload(dy);
        using var db = Device.Allocate(5);
        GpuConv.BackwardBias(ddy, db);
        AssertClose(Conv.BackwardBias(dy), db.Download(), "db");
    }

    [Fact]
    public void ShapeErrors_AreArgumentExceptions_NamingTheTensor()
    {
        var g = ConvGeometry.Uniform(2);
        using var x = Device.Allocate(1, 2, 5, 5);
        using var w = Device.Allocate(3, 2, 3, 3);
        using var y = Device.Allocate(1, 3, 4, 4);
        var e = Assert.Throws<ArgumentException>(() => GpuConv.Forward(x, w, null, g, y));
        Assert.Equal("y", e.ParamName);
        var u = Assert.Throws<ArgumentException>(() => x.Upload(new float[3]));
        Assert.Equal("data", u.ParamName);
        Assert.Throws<ArgumentException>(() => Device.Allocate(1, 0, 3));
    }

    [Fact]
    public void Cuda_WithoutDevice_FailsWithNotSupported_OrOpensOne()
    {
        try
        {
            using var d = GpuDevice.Cuda();
            Assert.Equal("cuda", d.Kind);
        }
        catch (NotSupportedException e)
        {
            Assert.Contains("CUDA", e.Message, StringComparison.Ordinal);
        }
    }

    public sealed record Case(ConvGeometry Geometry, int[] InputShape, int[] WeightShape, bool Bias)
    {
        public override string ToString() =>
            $"x {Shapes.Format(InputShape)} w {Shapes.Format(WeightShape)} {Geometry}{(Bias ? " +b" : "")}";
    }

    /// <summary>A valid random problem: every axis reaches at least one output (and, transposed, one output position).</summary>
    internal static Case RandomCase(int seed, bool transposed)
    {
        var r = new Random(seed);
        int dims = r.Next(1, 4);
        int maxK = dims == 3 ? 3 : 4;
        var (k, s, d, pb, pa, op, size) = (new int[dims], new int[dims], new int[dims], new int[dims], new int[dims], new int[dims], new int[dims]);
        for (int a = 0; a < dims; a++)
        {
            k[a] = r.Next(1, maxK + 1);
            s[a] = r.Next(1, 4);
            d[a] = r.Next(1, 3);
            pb[a] = r.Next(0, 3);
            pa[a] = r.Next(0, 3);
            int span = d[a] * (k[a] - 1) + 1;
            if (transposed)
            {
                op[a] = r.Next(0, Math.Max(s[a], d[a]));
                int need = pb[a] + pa[a] - span - op[a] + 1; // (in − 1)·s ≥ need
                size[a] = 1 + (need > 0 ? (need + s[a] - 1) / s[a] : 0) + r.Next(0, 4);
            }
            else
            {
                size[a] = Math.Max(1, span - pb[a] - pa[a]) + r.Next(0, dims == 3 ? 4 : 7);
            }
        }
        int groups = r.Next(1, 4), cg = r.Next(1, 5), kg = r.Next(1, 5), n = r.Next(1, 3);
        var g = new ConvGeometry(s, pb, pa, d, groups, transposed ? op : default);
        int[] input = [n, groups * (transposed ? kg : cg), .. size];
        int[] weight = transposed ? [groups * kg, cg, .. k] : [groups * kg, cg, .. k];
        return new Case(g, input, weight, r.Next(2) == 0);
    }

    private void CheckConv(Case c)
    {
        var p = ConvProblem.ForConv(c.Geometry, c.InputShape, c.WeightShape);
        var (x, w, dy) = (Random(c.InputShape, 11), Random(c.WeightShape, 12), Random(p.OutputShape, 13));
        var b = c.Bias ? Random([p.K], 14) : null;
        using var gx = Device.Upload(x);
        using var gw = Device.Upload(w);
        using var gb = b is null ? null : Device.Upload(b);
        using var gdy = Device.Upload(dy);
        using var gy = Device.Allocate(p.OutputShape);
        using var gdx = Device.Allocate(c.InputShape);
        using var gdw = Device.Allocate(c.WeightShape);
        GpuConv.Forward(gx, gw, gb, c.Geometry, gy);
        GpuConv.BackwardData(gdy, gw, c.Geometry, gdx);
        GpuConv.BackwardWeight(gx, gdy, c.Geometry, gdw);
        AssertClose(Conv.Forward(x, w, b, c.Geometry), gy.Download(), $"y of {c}");
        AssertClose(Conv.BackwardData(dy, w, c.Geometry, c.InputShape), gdx.Download(), $"dx of {c}");
        AssertClose(Conv.BackwardWeight(x, dy, c.Geometry, c.WeightShape), gdw.Download(), $"dw of {c}");
    }

    private void CheckTranspose(Case c)
    {
        var p = ConvProblem.ForTranspose(c.Geometry, c.InputShape, c.WeightShape);
        var (x, w, dy) = (Random(c.InputShape, 21), Random(c.WeightShape, 22), Random(p.TransposeOutputShape, 23));
        var b = c.Bias ? Random([p.C], 24) : null;
        using var gx = Device.Upload(x);
        using var gw = Device.Upload(w);
        using var gb = b is null ? null : Device.Upload(b);
        using var gdy = Device.Upload(dy);
        using var gy = Device.Allocate(p.TransposeOutputShape);
        using var gdx = Device.Allocate(c.InputShape);
        using var gdw = Device.Allocate(c.WeightShape);
        GpuConvTranspose.Forward(gx, gw, gb, c.Geometry, gy);
        GpuConvTranspose.BackwardData(gdy, gw, c.Geometry, gdx);
        GpuConvTranspose.BackwardWeight(gx, gdy, c.Geometry, gdw);
        AssertClose(ConvTranspose.Forward(x, w, b, c.Geometry), gy.Download(), $"y of transposed {c}");
        AssertClose(ConvTranspose.BackwardData(dy, w, c.Geometry, c.InputShape), gdx.Download(), $"dx of transposed {c}");
        AssertClose(ConvTranspose.BackwardWeight(x, dy, c.Geometry, c.WeightShape), gdw.Download(), $"dw of transposed {c}");
    }

    private static Tensor<float> Random(int[] shape, int seed)
    {
        var r = new Random(seed);
        var t = Tensor<float>.Uninitialized(shape);
        foreach (ref var v in t.Span)
        {
            v = (float)(r.NextDouble() * 2 - 1);
        }
        return t;
    }

    private static void AssertClose(Tensor<float> expected, Tensor<float> actual, string what)
    {
        Assert.Equal(expected.Shape.ToArray(), actual.Shape.ToArray());
        var e = expected.ReadOnlySpan;
        var a = actual.ReadOnlySpan;
        double maxRef = 0, maxErr = 0;
        for (int i = 0; i < e.Length; i++)
        {
            maxRef = Math.Max(maxRef, Math.Abs(e[i]));
            double err = Math.Abs((double)a[i] - e[i]);
            maxErr = double.IsNaN(err) ? double.PositiveInfinity : Math.Max(maxErr, err);
        }
        Assert.True(Tolerance.Within(maxErr, maxRef), $"{what}: max|a-e| = {maxErr:e2} > {Tolerance.Relative:g}·(1 + {maxRef:g3})");
    }
}
