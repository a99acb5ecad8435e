using CsCheck;

namespace ConvGrad.Tests;

/// <summary>Input positions that no output window reads get a gradient of exactly zero (and every other position can get one).</summary>
public class UnreadInputTests
{
    /// <summary>Marks, per axis, the input indices some output reads: i = o·s + r·d − p for o in [0,out), r in [0,k).</summary>
    private static bool[] ReadPositions(AxisCase a, int outSize)
    {
        var read = new bool[a.Input];
        for (int o = 0; o < outSize; o++)
        for (int r = 0; r < a.Kernel; r++)
        {
            int i = o * a.Stride + r * a.Dilation - a.PadBefore;
            if (i >= 0 && i < a.Input)
            {
                read[i] = true;
            }
        }
        return read;
    }

    [Fact]
    public void UnreadPositions_GetExactlyZero_OnEveryEngine()
    {
        RandomProblems.Conv.Sample(c =>
        {
            var rng = new Random(c.Seed);
            var outShape = c.OutputShape;
            var read = c.Axes.Select((a, i) => ReadPositions(a, outShape[2 + i])).ToArray();
            var w = RandomProblems.Random<float>(rng, c.WeightShape);
            var dy = RandomProblems.Random<float>(rng, outShape);
            foreach (var engine in Enum.GetValues<ConvEngine>())
            {
                var dx = Conv.BackwardData(dy, w, c.Geometry, c.InputShape, new ConvOptions { Engine = engine });
                int spatial = c.Axes.Aggregate(1, (p, a) => p * a.Input);
                var s = dx.Span;
                for (int idx = 0; idx < s.Length; idx++)
                {
                    int rem = idx % spatial;
                    bool isRead = true;
                    for (int ax = c.Dims - 1; ax >= 0; ax--)
                    {
                        int n = c.Axes[ax].Input;
                        isRead &= read[ax][rem % n];
                        rem /= n;
                    }
                    if (!isRead)
                    {
                        Assert.True(s[idx] == 0f, $"dx[{idx}] = {s[idx]} at an unread position for {c} on {engine}");
                    }
                }
            }
        }, iter: 150);
    }

    [Fact]
    public void Stride2_TrailingRows_GetZeroGradient()
    {
        // 5x5 input, 2x2 kernel, stride 2: outputs read rows/cols 0..3 only; row 4 and column 4 get dX = 0.
        var g = ConvGeometry.Uniform(2, stride: 2);
        var w = Tensor<float>.FromArray([1, 2, 3, 4], 1, 1, 2, 2);
        var dy = Tensor<float>.FromArray([1, 1, 1, 1], 1, 1, 2, 2);
        var dx = Conv.BackwardData(dy, w, g, [1, 1, 5, 5]);
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(0f, dx[0, 0, 4, i]);
            Assert.Equal(0f, dx[0, 0, i, 4]);
        }
        Assert.Equal(1f, dx[0, 0, 0, 0]);
        Assert.Equal(4f, dx[0, 0, 3, 3]);
    }
}
