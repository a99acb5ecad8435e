using ConvGrad.Autograd;
using ConvGrad.Nn;

namespace ConvGrad.Tests;

/// <summary>
/// <c>relu(batch_norm(x) [+ r])</c> as one blocked operation (the ResNet's blocks) gives the bits of the three
/// operations run one by one: output, running statistics, and the gradients of x, γ, β and r.
/// </summary>
public class FusedBatchNormReluTests
{
    [Theory]
    [InlineData(16, true, true)]
    [InlineData(16, false, true)]
    [InlineData(8, true, true)]
    [InlineData(8, false, false)]
    public void Fused_IsBitwiseTheOperationsOneByOne(int block, bool withResidual, bool training) =>
        Check<float>(block, withResidual, training);

    /// <summary>
    /// float64 runs the same loops with fewer lanes per vector: a block of 16 doubles is two 512-bit or four 256-bit lane
    /// groups, each adding its bits of the ReLU's mask words (the float runs cover one group per block).
    /// </summary>
    [Theory]
    [InlineData(16, true, true)]
    [InlineData(8, false, true)]
    public void Fused_Float64_IsBitwiseTheOperationsOneByOne(int block, bool withResidual, bool training) =>
        Check<double>(block, withResidual, training);

    private static void Check<T>(int block, bool withResidual, bool training) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        // 20 channels: a padded tail in the last block; 5x5 pixels; 3 images.
        var rng = new Random(block + (withResidual ? 1 : 0));
        var x = Draw<T>(rng, 3, 20, 5, 5);
        var r = Draw<T>(rng, 3, 20, 5, 5);
        var dy = Draw<T>(rng, 3, 20, 5, 5);
        var plain = Run(fused: false);
        var fused = Run(fused: true);
        for (int i = 0; i < plain.Count; i++)
        {
            Assert.True(plain[i].AsSpan().SequenceEqual(fused[i]), $"result {i} differs");
        }

        List<T[]> Run(bool fused)
        {
            var bn = new BatchNorm2d<T>(20);
            var g = bn.Weight.Value.Span;
            for (int c = 0; c < 20; c++)
            {
                g[c] = T.CreateChecked(0.5 + 0.05 * c);
                bn.Bias.Value.Span[c] = T.CreateChecked(0.1 * (c % 3) - 0.1);
            }
            bn.SetTraining(training);
            var xv = new Variable<T>(x.Clone(), requiresGrad: true);
            var rv = new Variable<T>(r.Clone(), requiresGrad: true);
            var xb = Functional.ToBlocked(xv, block, threads: 2);
            var rb = Functional.ToBlocked(rv, block, threads: 2);
            Variable<T> y;
            if (fused)
            {
                y = bn.ForwardRelu(xb, withResidual ? rb : null);
                Assert.Equal(withResidual ? 4 : 3, y.GradFn!.Inputs.Count);
            }
            else
            {
                var h = bn.Forward(xb);
                y = Functional.Relu(withResidual ? Functional.Add(h, rb) : h);
            }
            var loss = Functional.Sum(Functional.Mul(Functional.ToNchw(y), new Variable<T>(dy)));
            loss.Backward();
            var results = new List<T[]>
            {
                Functional.ToNchw(y).Value.ToArray(), xv.Grad!.ToArray(), bn.Weight.Grad!.ToArray(), bn.Bias.Grad!.ToArray(),
                bn.RunningMean.ToArray(), bn.RunningVar.ToArray(),
            };
            if (withResidual)
            {
                results.Add(rv.Grad!.ToArray());
            }
            return results;
        }
    }

    /// <summary>
    /// The backward rule writes the masked dy (with a residual) or dx over dy only when dy is its own: a gradient the
    /// caller hands in as the seed is left as it was, and both give the same bits.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void CallersSeed_IsNotOverwritten_AndGivesTheBitsOfAnOwnedGradient(bool withResidual)
    {
        var rng = new Random(7);
        var x = Draw<float>(rng, 3, 20, 5, 5);
        var r = Draw<float>(rng, 3, 20, 5, 5);
        var dy = Draw<float>(rng, 3, 20, 5, 5);
        var seed = Functional.ToBlocked(new Variable<float>(dy.Clone()), 16).Value;
        var seedBefore = seed.ToArray();
        var fromSeed = Run(owned: false);
        Assert.True(seed.ToArray().AsSpan().SequenceEqual(seedBefore), "the caller's seed was overwritten");
        var fromOwned = Run(owned: true);
        for (int i = 0; i < fromSeed.Count; i++)
        {
            Assert.True(fromSeed[i].AsSpan().SequenceEqual(fromOwned[i]), $"gradient {i} differs");
        }

        List<float[]> Run(bool owned)
        {
            var bn = new BatchNorm2d<float>(20);
            var xv = new Variable<float>(x.Clone(), requiresGrad: true);
            var rv = new Variable<float>(r.Clone(), requiresGrad: true);
            var y = bn.ForwardRelu(Functional.ToBlocked(xv, 16), withResidual ? Functional.ToBlocked(rv, 16) : null);
            if (owned)
            {
                // Through ToNchw: y's gradient arrives as a fresh buffer handed over to the node.
                Functional.Sum(Functional.Mul(Functional.ToNchw(y), new Variable<float>(dy))).Backward();
            }
            else
            {
                y.Backward(seed);
            }
            var grads = new List<float[]> { xv.Grad!.ToArray(), bn.Weight.Grad!.ToArray(), bn.Bias.Grad!.ToArray() };
            if (withResidual)
            {
                grads.Add(rv.Grad!.ToArray());
            }
            return grads;
        }
    }

    [Fact]
    public void UnderATrace_TheExporterSeesBatchNormAddAndRelu()
    {
        var bn = new BatchNorm2d<float>(16);
        var x = Functional.ToBlocked(new Variable<float>(Draw<float>(new Random(1), 2, 16, 3, 3)), 16);
        using var trace = OpTrace.Begin();
        bn.ForwardRelu(x, x);
        Assert.Equal([TracedOpKind.BatchNorm, TracedOpKind.Add, TracedOpKind.Relu], trace.Ops.Select(o => o.Kind));
    }

    private static Tensor<T> Draw<T>(Random rng, params int[] shape) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Zeros(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = T.CreateChecked((float)(rng.NextDouble() * 4 - 2));
        }
        return t;
    }
}
