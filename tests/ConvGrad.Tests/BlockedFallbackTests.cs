using ConvGrad.Cpu;
using ConvGrad.Cpu.Blocked;

namespace ConvGrad.Tests;

/// <summary>
/// Layers the blocked kernels do not cover (depthwise with a channel multiplier, groups whose channels are not whole
/// blocks) fall back cleanly: the blocked plan refuses them with an <see cref="ArgumentException"/> naming the problem,
/// the NCHW dispatch never picks the blocked kernels for them, and the public call still matches the reference.
/// </summary>
public class BlockedFallbackTests
{
    [Theory]
    [InlineData(8, 16, 32, 16)]   // depthwise, multiplier 2
    [InlineData(16, 16, 48, 16)]  // depthwise, multiplier 3
    [InlineData(8, 24, 24, 2)]    // groups of 12 channels: not whole blocks of 8
    [InlineData(16, 64, 64, 8)]   // groups of 8 channels: not whole blocks of 16
    public void UncoveredLayers_AreRefused_AndFallBack(int block, int c, int k, int groups)
    {
        var g = new ConvGeometry([1, 1], [1, 1], [1, 1], [1, 1], groups);
        var p = ConvProblem.ForConv(g, [2, c, 9, 11], [k, c / groups, 3, 3]);
        Assert.False(BlockedConv.Applies(p, ConvPass.Forward, block));
        var e = Assert.Throws<ArgumentException>(() => new BlockedConvPlan(p, block));
        Assert.Equal("p", e.ParamName);
        Assert.Contains($"groups {groups}", e.Message, StringComparison.Ordinal);
        var tier = block == 16 ? IsaTier.Avx512 : IsaTier.Avx2;
        foreach (var pass in new[] { ConvPass.Forward, ConvPass.BackwardData, ConvPass.BackwardWeight })
        {
            Assert.False(ConvPlanner.UsesDirectBlocked(p, pass, tier, 2));
        }

        var rng = new Random(c + k);
        var x = Tensor<float>.Uninitialized(p.InputShape);
        var w = Tensor<float>.Uninitialized(p.WeightShape);
        foreach (var t in new[] { x, w })
        {
            var s = t.Span;
            for (int i = 0; i < s.Length; i++)
            {
                s[i] = rng.Next(-3, 4);
            }
        }
        var fast = Conv.Forward(x, w, null, g, new ConvOptions { Threads = 2 });
        var reference = Conv.Forward(x, w, null, g, new ConvOptions { Engine = ConvEngine.Reference });
        Assert.Equal(reference.ToArray(), fast.ToArray());
    }
}
