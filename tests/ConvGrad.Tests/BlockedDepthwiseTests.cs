using System.Runtime.Intrinsics;
using ConvGrad.Cpu.Blocked;
using CsCheck;
using static ConvGrad.Tests.Tolerance;

namespace ConvGrad.Tests;

/// <summary>
/// The depthwise kernels on the channel-blocked layout (forward and dX: <see cref="DepthwiseRowPairs{TI, TV}"/>; dW:
/// <see cref="DepthwiseKernels{TI, TV}"/>) against the float64 reference, at both vector widths (block 16: AVX-512, block 8: AVX2): odd output heights (a last pair of one
/// row), rows narrower than the kernel (border columns only), strides and dilations that give source rows read by one
/// row of a pair only, empty dX phases, asymmetric padding, 1-3 spatial axes, channel tails; and the same bits for
/// 1, 2 and 3 threads.
/// </summary>
public class BlockedDepthwiseTests
{
    private static readonly ConvOptions Reference = new() { Engine = ConvEngine.Reference };

    public static TheoryData<int> Blocks() => new() { 16, 8 };

    private static void SkipUnlessBlock(int block) =>
        Skip.If(block == 16 && !Vector512.IsHardwareAccelerated, "this CPU has no hardware Vector512 (AVX-512), so the 16-channel blocked kernels do not run");

    [SkippableTheory]
    [InlineData(16, 2, 48, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1)]   // mbv2-dw3x3-28 scaled: pairs, interior tiles, 1-pixel borders
    [InlineData(16, 1, 36, 15, 17, 3, 3, 2, 2, 1, 1, 1, 1)]   // stride 2: odd height (last pair one row), channel tail
    [InlineData(8, 2, 20, 11, 13, 5, 5, 2, 2, 2, 2, 1, 1)]    // 5x5 stride 2 (AVX2: 25 taps, dW by row pairs)
    [InlineData(16, 2, 20, 11, 13, 5, 5, 2, 2, 2, 2, 1, 1)]   // 5x5 stride 2 (AVX-512: 25 taps, dW in registers)
    [InlineData(8, 1, 12, 9, 31, 3, 3, 1, 1, 2, 2, 2, 2)]     // dilation 2: source rows shared at distance 2
    [InlineData(16, 1, 16, 7, 2, 3, 3, 1, 1, 1, 1, 1, 1)]     // rows narrower than the kernel: border columns only
    [InlineData(16, 2, 17, 1, 9, 3, 3, 1, 1, 1, 1, 1, 1)]     // one output row
    [InlineData(8, 1, 9, 10, 10, 1, 1, 2, 2, 0, 0, 1, 1)]     // 1x1 stride 2: empty dX phases and rows
    [InlineData(8, 2, 8, 12, 40, 3, 5, 3, 2, 2, 1, 1, 1)]     // unequal kernel and strides (stride 3 > kernel rows)
    [InlineData(16, 1, 32, 6, 45, 3, 3, 1, 1, 0, 2, 1, 3)]    // padding only before on one axis, width dilation 3
    [InlineData(16, 2, 16, 9, 30, 1, 9, 1, 1, 0, 4, 1, 1)]    // 9 width taps: dW tiles in chunks of 7 and 2
    [InlineData(8, 1, 8, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1)]     // AVX2: two-row dW tiles of 12 accumulators
    public void AllPasses_MatchReference(int block, int n, int c, int h, int w, int r, int s, int sh, int sw, int ph, int pw, int dh, int dw)
    {
        SkipUnlessBlock(block);
        var g = new ConvGeometry([sh, sw], [ph, pw], [ph, pw + 1 - Math.Min(pw, 1)], [dh, dw], c);
        Check(g, [n, c, h, w], [c, 1, r, s], block, seed: h * 31 + w);
    }

    [SkippableTheory]
    [MemberData(nameof(Blocks))]
    public void AllPasses_MatchReference_OnRandomShapes(int block)
    {
        SkipUnlessBlock(block);
        Gen.Int.Sample(seed =>
        {
            var rng = new Random(seed);
            int dims = rng.Next(1, 4);
            int[] stride = new int[dims], dil = new int[dims], pb = new int[dims], pa = new int[dims], ker = new int[dims], inp = new int[dims];
            for (int a = 0; a < dims; a++)
            {
                stride[a] = rng.Next(1, 4);
                dil[a] = rng.Next(1, 3);
                ker[a] = rng.Next(1, dims == 3 ? 4 : 6);
                pb[a] = rng.Next(0, ker[a] + 1);
                pa[a] = rng.Next(0, ker[a] + 1);
                int span = dil[a] * (ker[a] - 1) + 1;
                inp[a] = Math.Max(1, span - pb[a] - pa[a] + rng.Next(0, a < dims - 1 ? 9 : 40));
            }
            int c = rng.Next(2, 3 * block + 1);
            var g = new ConvGeometry(stride, pb, pa, dil, c);
            Check(g, [rng.Next(1, 3), c, .. inp], [c, 1, .. ker], block, seed);
        }, iter: 60, threads: 1);
    }

    /// <summary>Forward (with bias), backward-data and backward-weight against the reference: exactly on small integers,
    /// within tolerance on random floats; and bitwise the same for 1, 2 and 3 threads.</summary>
    private static void Check(ConvGeometry g, int[] xShape, int[] wShape, int block, int seed)
    {
        var p = ConvProblem.ForConv(g, xShape, wShape);
        var plan = new BlockedConvPlan(p, block);
        Assert.True(plan.Geometry.Depthwise);
        foreach (bool integer in new[] { true, false })
        {
            var rng = new Random(seed);
            var x = Random(rng, xShape, integer);
            var w = Random(rng, wShape, integer);
            var b = Random(rng, [wShape[0]], integer);
            var dy = Random(rng, p.OutputShape, integer);
            plan.SetWeights(w.ReadOnlySpan, b.ReadOnlySpan);
            var xb = BlockedTensor.FromNchw(x, block);
            var dyb = BlockedTensor.FromNchw(dy, block);
            float[]? y1 = null, dx1 = null, dw1 = null;
            foreach (int threads in new[] { 1, 2, 3 })
            {
                var yb = new BlockedTensor(p.OutputShape, block);
                yb.Span.Fill(float.NaN);
                plan.Forward(xb, yb, threads);
                var dxb = new BlockedTensor(xShape, block);
                dxb.Span.Fill(float.NaN);
                plan.BackwardData(dyb, dxb, threads);
                var dw = new float[w.Length];
                dw.AsSpan().Fill(float.NaN);
                plan.BackwardWeight(xb, dyb, dw, threads);
                if (y1 is null)
                {
                    y1 = yb.Span.ToArray();
                    dx1 = dxb.Span.ToArray();
                    dw1 = dw;
                    string what = $"block {block} x {Shapes.Format(xShape)} w {Shapes.Format(wShape)} stride {Shapes.Format(g.Stride.AsSpan())} pad {Shapes.Format(g.PaddingBefore.AsSpan())}/{Shapes.Format(g.PaddingAfter.AsSpan())} dil {Shapes.Format(g.Dilation.AsSpan())}";
                    AssertClose(Conv.Forward(x, w, b, g, Reference), yb.ToNchw().ReadOnlySpan, integer, "forward " + what);
                    AssertClose(Conv.BackwardData(dy, w, g, xShape, Reference), dxb.ToNchw().ReadOnlySpan, integer, "dx " + what);
                    AssertClose(Conv.BackwardWeight(x, dy, g, wShape, Reference), dw, integer, "dw " + what);
                }
                else
                {
                    Assert.True(yb.Span.SequenceEqual(y1), $"forward differs between 1 and {threads} threads");
                    Assert.True(dxb.Span.SequenceEqual(dx1), $"dx differs between 1 and {threads} threads");
                    Assert.True(dw.AsSpan().SequenceEqual(dw1), $"dw differs between 1 and {threads} threads");
                }
            }
        }
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
}
