using System.Runtime.Intrinsics;
using ConvGrad.Cpu;
using ConvGrad.Cpu.Blocked;

namespace ConvGrad.Tests;

/// <summary>
/// Strided 1×1 backward-weight and backward-data through a dense panel (<see cref="DenseSubsample"/>): against the
/// float64 reference at both vector widths, with strides that differ per axis, sizes the stride does not divide, 1-3
/// spatial axes, groups, channel tails and padding after (dX exactly zero where no output samples); bitwise the same for
/// 1, 2 and 3 threads; and which layers take the path. The forward too, which takes the panel where the planner says so.
/// </summary>
public class DenseSubsampleTests
{
    private static readonly ConvOptions Reference = new() { Engine = ConvEngine.Reference };

    [SkippableTheory]
    [InlineData(16, 2, 40, new[] { 13, 9 }, 36, new[] { 2, 2 }, 1)]      // rn50-1x1s2-like, odd sizes, channel tails
    [InlineData(16, 3, 32, new[] { 11, 17 }, 64, new[] { 3, 2 }, 2)]     // unequal strides, two groups of 16
    [InlineData(8, 2, 20, new[] { 5, 6, 7 }, 12, new[] { 2, 1, 3 }, 1)]  // 3-D, one axis unit stride
    [InlineData(8, 1, 9, new[] { 30 }, 17, new[] { 4 }, 1)]               // 1-D
    public void StridedOneByOne_BackwardPasses_MatchReference(int block, int n, int c, int[] size, int k, int[] stride, int groups)
    {
        Skip.If(block == 16 && !Vector512.IsHardwareAccelerated, "this CPU has no hardware Vector512 (AVX-512)");
        int dims = size.Length;
        int[] zeros = new int[dims], ones = new int[dims], after = new int[dims];
        Array.Fill(ones, 1);
        after[dims - 1] = 1; // padding after only adds output columns past the input's last sample, never a skipped one
        var g = new ConvGeometry(stride, zeros, after, ones, groups);
        int[] xShape = [n, c, .. size], wShape = [k, c / groups, .. ones];
        var p = ConvProblem.ForConv(g, xShape, wShape);
        Assert.True(DenseSubsample.Applies(p));
        var plan = new BlockedConvPlan(p, block);
        Assert.EndsWith(" dense", plan.Name(ConvPass.BackwardWeight));
        Assert.EndsWith(" dense", plan.Name(ConvPass.BackwardData));
        foreach (bool integer in new[] { true, false })
        {
            var rng = new Random(c * 7 + k);
            var x = Random(rng, xShape, integer);
            var w = Random(rng, wShape, integer);
            var dy = Random(rng, p.OutputShape, integer);
            plan.SetWeights(w.ReadOnlySpan, default);
            var expectedDx = Conv.BackwardData(dy, w, g, xShape, Reference).ReadOnlySpan;
            var xb = BlockedTensor.FromNchw(x, block);
            var dyb = BlockedTensor.FromNchw(dy, block);
            var expected = Conv.BackwardWeight(x, dy, g, wShape, Reference).ReadOnlySpan;
            float[]? first = null, firstDx = null;
            foreach (int threads in new[] { 1, 2, 3 })
            {
                var dxb = new BlockedTensor(xShape, block);
                dxb.Span.Fill(float.NaN);
                plan.BackwardData(dyb, dxb, threads);
                var dw = new float[expected.Length];
                dw.AsSpan().Fill(float.NaN);
                plan.BackwardWeight(xb, dyb, dw, threads);
                if (first is null)
                {
                    first = dw;
                    firstDx = dxb.Span.ToArray();
                    var dx = dxb.ToNchw().ReadOnlySpan;
                    for (int i = 0; i < dx.Length; i++)
                    {
                        Assert.True(expectedDx[i] != 0 || dx[i] == 0 || !integer, $"dx[{i}] = {dx[i]} where the reference is 0");
                    }
                    Tolerance.AssertClose(expectedDx, dx, integer, $"dx block {block} stride {Shapes.Format(stride)}");
                    Tolerance.AssertClose(expected, dw, integer, $"dw block {block} stride {Shapes.Format(stride)}");
                }
                else
                {
                    Assert.True(dw.AsSpan().SequenceEqual(first), $"dw differs between 1 and {threads} threads");
                    Assert.True(dxb.Span.SequenceEqual(firstDx), $"dx differs between 1 and {threads} threads");
                }
            }

            // Forward with a bias, where the planner takes the panel for it (ConvPlanner.UsesDensePanelForward).
            var bias = Random(rng, [k], integer);
            plan.SetWeights(w.ReadOnlySpan, bias.ReadOnlySpan);
            var expectedY = Conv.Forward(x, w, bias, g, Reference).ReadOnlySpan;
            float[]? firstY = null;
            foreach (int threads in new[] { 1, 2, 3 })
            {
                var yb = new BlockedTensor(p.OutputShape, block);
                yb.Span.Fill(float.NaN);
                plan.Forward(xb, yb, threads);
                if (firstY is null)
                {
                    firstY = yb.Span.ToArray();
                    var y = yb.ToNchw().ReadOnlySpan;
                    Tolerance.AssertClose(expectedY, y, integer, $"y block {block} stride {Shapes.Format(stride)}");
                }
                else
                {
                    Assert.True(yb.Span.SequenceEqual(firstY), $"y differs between 1 and {threads} threads");
                }
            }
        }
        Assert.Equal(ConvPlanner.UsesDensePanelForward(p, block), plan.Name(ConvPass.Forward).EndsWith(" dense", StringComparison.Ordinal));
    }

    [Fact]
    public void OnlyStridedOneByOne_ReadingInsideTheInput_TakesThePanel()
    {
        Assert.False(DenseSubsample.Applies(ConvProblem.ForConv(ConvGeometry.Uniform(2), [1, 16, 8, 8], [16, 16, 1, 1])));                 // unit stride
        Assert.False(DenseSubsample.Applies(ConvProblem.ForConv(ConvGeometry.Uniform(2, stride: 2), [1, 16, 8, 8], [16, 16, 3, 3])));      // 3x3
        Assert.False(DenseSubsample.Applies(ConvProblem.ForConv(ConvGeometry.Uniform(2, stride: 2, padding: 1), [1, 16, 8, 8], [16, 16, 1, 1]))); // padding before
        Assert.False(DenseSubsample.Applies(ConvProblem.ForConv(ConvGeometry.Uniform(2, stride: 2, groups: 16), [1, 16, 8, 8], [16, 1, 1, 1])));  // depthwise
        Assert.True(DenseSubsample.Applies(ConvProblem.ForConv(ConvGeometry.Uniform(2, stride: 2), [1, 16, 8, 8], [16, 16, 1, 1])));
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
