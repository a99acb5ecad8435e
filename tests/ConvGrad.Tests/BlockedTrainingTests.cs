using ConvGrad.Autograd;
using ConvGrad.Data;
using ConvGrad.Nn;

namespace ConvGrad.Tests;

/// <summary>
/// The training stack on channel-blocked activations (<see cref="BlockedActivations"/>): every blocked op (ReLU, max,
/// average and global-average pooling, batch norm in training and evaluation, residual add, flatten) against its NCHW
/// self with channel tails, padded tail channels exactly zero, and LeNet and the ResNet trained blocked against the same
/// models in NCHW (logits, loss, every parameter gradient, running statistics), plus thread-count determinism.
/// </summary>
public class BlockedTrainingTests
{
    public static TheoryData<ConvIsa> VectorTiers() => new() { ConvIsa.Avx512, ConvIsa.Avx2 };

    private static Tensor<float> Random(Random rng, params int[] shape)
    {
        var t = Tensor<float>.Uninitialized(shape);
        foreach (ref float v in t.Span)
        {
            v = (float)(rng.NextDouble() * 2 - 1);
        }
        return t;
    }

    private static double RelativeError(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double diff = 0, scale = 1e-12;
        for (int i = 0; i < expected.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs(expected[i] - actual[i]));
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }
        return diff / scale;
    }

    private static void AssertTailZero(Variable<float> v)
    {
        Assert.True(v.IsChannelBlocked);
        var shape = v.Shape;
        int c = shape[1], bs = v.StorageShape[^1], cb = v.StorageShape[1], spatial = (int)(v.Value.Length / ((long)shape[0] * cb * bs));
        var s = v.Value.ReadOnlySpan;
        for (int n = 0; n < shape[0]; n++)
        {
            for (int i = 0; i < spatial; i++)
            {
                for (int l = c - (cb - 1) * bs; l < bs; l++)
                {
                    Assert.Equal(0f, s[(((n * cb) + cb - 1) * spatial + i) * bs + l]);
                }
            }
        }
    }

    /// <summary>Each op on a blocked input (20 channels: a tail on both blocks) equals the NCHW op, forward and gradient.</summary>
    [Theory]
    [InlineData(8)]
    [InlineData(16)]
    public void BlockedOps_MatchNchw_WithChannelTails(int block)
    {
        var ops = new (string Name, Func<Variable<float>, Variable<float>> Op)[]
        {
            ("relu", Functional.Relu),
            ("maxpool2", v => Functional.MaxPool2d(v, 2)),
            ("maxpool3s2p1", v => Functional.MaxPool2d(v, 3, 2, 1)),
            ("avgpool3s2p1", v => Functional.AvgPool2d(v, 3, 2, 1)),
            ("gap", Functional.GlobalAvgPool),
            ("bn-train", v => BatchNorm(v, training: true)),
            ("bn-eval", v => BatchNorm(v, training: false)),
            ("add", v => v + Functional.Relu(v)),
            ("flatten", Functional.Flatten),
        };
        foreach (var (name, op) in ops)
        {
            var rng = new Random(3);
            var xt = Random(rng, 3, 20, 9, 7);
            // Ties for max pooling: a few repeated values.
            xt.Span[5] = xt.Span[6];
            var x1 = new Variable<float>(xt.Clone(), requiresGrad: true);
            var x2 = new Variable<float>(xt.Clone(), requiresGrad: true);
            var nchw = op(x1);
            var blockedOut = op(Functional.ToBlocked(x2, block, threads: 2));
            if (blockedOut.IsChannelBlocked)
            {
                AssertTailZero(blockedOut);
            }
            var blocked = Functional.ToNchw(blockedOut);
            Assert.Equal(nchw.Shape.ToArray(), blocked.Shape.ToArray());
            Assert.True(RelativeError(nchw.Value.ReadOnlySpan, blocked.Value.ReadOnlySpan) < 1e-5, name);
            var r = new Variable<float>(Random(new Random(4), nchw.Shape.ToArray()));
            Functional.Sum(nchw * r).Backward();
            Functional.Sum(blocked * r).Backward();
            Assert.True(RelativeError(x1.Grad!.ReadOnlySpan, x2.Grad!.ReadOnlySpan) < 1e-5, name + " gradient");
        }
    }

    private static Variable<float> BatchNorm(Variable<float> v, bool training)
    {
        int c = v.Shape[1];
        var gamma = new Variable<float>(Random(new Random(7), c), requiresGrad: true);
        var beta = new Variable<float>(Random(new Random(8), c), requiresGrad: true);
        var mean = Random(new Random(9), c);
        var variance = Tensor<float>.Zeros(c);
        variance.Fill(1.5f);
        return Functional.BatchNorm(v, gamma, beta, mean, variance, training);
    }

    /// <summary>The first layer's output is blocked where the tier has blocked kernels, NCHW where it has none or with float64.</summary>
    [SkippableTheory]
    [MemberData(nameof(VectorTiers))]
    public void Models_KeepActivationsBlocked_OnVectorTiersOnly(ConvIsa isa)
    {
        var options = IsaTierCases.Fast(isa, 2);
        var model = new ResNet<float>(new Random(1), [12, 16, 24], blocks: 1, options: options);
        var x = new Variable<float>(Random(new Random(2), 2, 1, 12, 12));
        var h = model.Conv1.Forward(x);
        Assert.True(h.IsChannelBlocked);
        Assert.Equal(isa == ConvIsa.Avx512 ? MemoryFormat.ChannelsBlocked16 : MemoryFormat.ChannelsBlocked8, h.Format);
        Assert.Equal(isa == ConvIsa.Avx512 ? 16 : 8, h.StorageShape[^1]);
        Assert.Equal([2, 12, 12, 12], h.Shape.ToArray());
        AssertTailZero(h);
        var portable = new ResNet<float>(new Random(1), [12, 16, 24], blocks: 1, options: new ConvOptions { MaxIsa = ConvIsa.Portable });
        Assert.False(portable.Conv1.Forward(x).IsChannelBlocked);
        var dbl = new ResNet<double>(new Random(1), [12, 16, 24], blocks: 1);
        Assert.False(dbl.Conv1.Forward(new Variable<double>(Tensor<double>.Zeros(2, 1, 12, 12))).IsChannelBlocked);
    }

    /// <summary>
    /// LeNet and ResNets (default widths and widths with channel tails) trained blocked agree with the same models in NCHW:
    /// the logits, the loss, every parameter gradient and the batch-norm running statistics after a training step, and
    /// the evaluation-mode logits.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(VectorTiers))]
    public void LeNetAndResNet_Blocked_AgreeWithNchw(ConvIsa isa)
    {
        var options = IsaTierCases.Fast(isa, 2);
        Func<Module<float>>[] models =
        [
            () => LeNet.Create<float>(new Random(5), options: options),
            () => new ResNet<float>(new Random(5), options: options),
            () => new ResNet<float>(new Random(5), [12, 20, 36], blocks: 1, options: options),
        ];
        var (x, labels) = TestDigits.Batch<float>(100, 8);
        foreach (var make in models)
        {
            var blocked = make();
            var nchw = make();
            BlockedActivations.Keep(nchw, false);
            var (lb, gb) = Step(blocked, x, labels);
            var (ln, gn) = Step(nchw, x, labels);
            string name = blocked.GetType().Name;
            Assert.True(RelativeError(ln, lb) < 1e-4, $"{name} logits");
            var pn = nchw.NamedParameters().ToArray();
            var pb = blocked.NamedParameters().ToArray();
            for (int i = 0; i < pn.Length; i++)
            {
                Assert.Equal(pn[i].Name, pb[i].Name);
                double err = RelativeError(pn[i].Parameter.Grad!.ReadOnlySpan, pb[i].Parameter.Grad!.ReadOnlySpan);
                Assert.True(err < 1e-3, $"{name} {pn[i].Name} gradient: relative error {err}");
            }
            var sn = nchw.State().ToDictionary(s => s.Name);
            foreach (var s in blocked.State())
            {
                Assert.True(sn.ContainsKey(s.Name), s.Name);
            }
            blocked.Eval();
            nchw.Eval();
            using (GradMode.NoGrad())
            {
                Assert.True(RelativeError(nchw.Forward(new Variable<float>(x)).Value.ReadOnlySpan, blocked.Forward(new Variable<float>(x)).Value.ReadOnlySpan) < 1e-4, $"{name} eval logits");
            }
        }
    }

    private static (float[] Logits, float Loss) StepLoss(Module<float> model, Tensor<float> x, int[] labels)
    {
        var logits = model.Forward(new Variable<float>(x));
        var loss = Functional.CrossEntropy(logits, labels);
        model.ZeroGrad();
        loss.Backward();
        return (logits.Value.ReadOnlySpan.ToArray(), (float)loss.Item());
    }

    private static (float[] Logits, float[] Grads) Step(Module<float> model, Tensor<float> x, int[] labels)
    {
        var (logits, _) = StepLoss(model, x, labels);
        return (logits, model.Parameters().SelectMany(p => p.Grad!.ReadOnlySpan.ToArray()).ToArray());
    }

    /// <summary>A blocked training step gives bitwise the same logits and gradients with 1 and 2 threads.</summary>
    [SkippableTheory]
    [MemberData(nameof(VectorTiers))]
    public void BlockedResNet_IsBitwiseTheSame_ForAnyThreadCount(ConvIsa isa)
    {
        var rng = new Random(9);
        var x = Random(rng, 6, 1, 28, 28);
        int[] labels = [1, 2, 3, 4, 5, 6];
        float[]? logits = null, grads = null;
        foreach (int threads in new[] { 1, 2, 3 })
        {
            var model = new ResNet<float>(new Random(5), options: IsaTierCases.Fast(isa, threads));
            var (l, g) = Step(model, x, labels);
            if (logits is null)
            {
                (logits, grads) = (l, g);
                continue;
            }
            Assert.Equal(logits, l);
            Assert.Equal(grads, g);
        }
    }
}
