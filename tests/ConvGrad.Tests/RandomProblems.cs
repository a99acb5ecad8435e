using CsCheck;

namespace ConvGrad.Tests;

/// <summary>One spatial axis of a random problem: kernel, stride, dilation, padding before/after and an input that fits.</summary>
public sealed record AxisCase(int Kernel, int Stride, int Dilation, int PadBefore, int PadAfter, int Input);

/// <summary>A random, valid convolution problem with 1-3 spatial axes, groups and batch.</summary>
public sealed record ConvCase(int N, int Groups, int Cg, int Kg, AxisCase[] Axes, int Seed)
{
    public int C => Groups * Cg;
    public int K => Groups * Kg;
    public int Dims => Axes.Length;

    public ConvGeometry Geometry => new(
        Axes.Select(a => a.Stride).ToArray(), Axes.Select(a => a.PadBefore).ToArray(),
        Axes.Select(a => a.PadAfter).ToArray(), Axes.Select(a => a.Dilation).ToArray(), Groups);

    public int[] InputShape => [N, C, .. Axes.Select(a => a.Input)];
    public int[] WeightShape => [K, Cg, .. Axes.Select(a => a.Kernel)];
    public int[] OutputShape => Geometry.ConvOutputShape(InputShape, WeightShape);

    public override string ToString() =>
        $"N={N} G={Groups} Cg={Cg} Kg={Kg} in={Shapes.Format(Axes.Select(a => a.Input).ToArray())} k={Shapes.Format(Axes.Select(a => a.Kernel).ToArray())} {Geometry} seed={Seed}";
}

/// <summary>CsCheck generators for random problems and tensors.</summary>
public static class RandomProblems
{
    public static readonly Gen<AxisCase> Axis =
        from k in Gen.Int[1, 4]
        from s in Gen.Int[1, 4]
        from d in Gen.Int[1, 3]
        from pb in Gen.Int[0, 3]
        from pa in Gen.Int[0, 3]
        from extra in Gen.Int[0, 5]
        select new AxisCase(k, s, d, pb, pa, Math.Max(1, d * (k - 1) + 1 - pb - pa) + extra);

    /// <summary>Problems small enough for the float64 reference to run hundreds of times.</summary>
    public static readonly Gen<ConvCase> Conv =
        from dims in Gen.Int[1, 3]
        from axes in Axis.Array[dims]
        from groups in Gen.Int[1, 3]
        from cg in Gen.Int[1, 3]
        from kg in Gen.Int[1, 3]
        from n in Gen.Int[1, 3]
        from seed in Gen.Int
        select new ConvCase(n, groups, cg, kg, axes, seed);

    public static Tensor<T> Random<T>(Random rng, int[] shape, bool integers = false) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Uninitialized(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = T.CreateTruncating(integers ? rng.Next(-3, 4) : rng.NextDouble() * 2 - 1);
        }
        return t;
    }

    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }
        return sum;
    }
}
