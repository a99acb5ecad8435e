using ConvGrad.Nn;
using ConvGrad.Optim;

namespace ConvGrad.Tests;

/// <summary>Optimisers follow PyTorch's update rules; schedules hit their end points.</summary>
public class OptimTests
{
    private static Parameter<double> Param(double w, double g)
    {
        return new Parameter<double>(Tensor<double>.FromArray([w], 1)) { Grad = Tensor<double>.FromArray([g], 1) };
    }

    [Fact]
    public void Sgd_MomentumAndWeightDecay_FollowTorchOptimSgd()
    {
        var p = Param(1.0, 0.5);
        var sgd = new Sgd<double>([p], lr: 0.1, momentum: 0.9, weightDecay: 0.01);
        sgd.Step();
        // g = 0.5 + 0.01·1 = 0.51, v = g, w = 1 − 0.1·0.51
        Assert.Equal(1 - 0.051, p.Value[0], 15);
        double w1 = p.Value[0];
        sgd.Step();
        double g2 = 0.5 + 0.01 * w1, v2 = 0.9 * 0.51 + g2;
        Assert.Equal(w1 - 0.1 * v2, p.Value[0], 15);
    }

    [Fact]
    public void Sgd_Nesterov_UsesGradientPlusMomentumTimesVelocity()
    {
        var p = Param(2.0, 1.0);
        var sgd = new Sgd<double>([p], 0.5, momentum: 0.5, nesterov: true);
        sgd.Step();
        Assert.Equal(2.0 - 0.5 * (1 + 0.5 * 1), p.Value[0], 15);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Sgd_OnePassStep_IsBitwiseThePassByPassUpdate(bool nesterov)
    {
        // Lengths with and without a vector tail; three steps reach the one-pass path (steps after the first).
        var rng = new Random(5);
        int[] lengths = [1, 37, 1000];
        var ps = lengths.Select(n => new Parameter<float>(Tensor<float>.FromArray(Draw(n), n))).ToArray();
        var w = ps.Select(p => p.Value.ReadOnlySpan.ToArray()).ToArray();
        var v = lengths.Select(n => new float[n]).ToArray();
        var sgd = new Sgd<float>(ps, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, nesterov: nesterov);
        float lr = 0.05f, mu = 0.9f, wd = 5e-4f;
        for (int step = 1; step <= 3; step++)
        {
            for (int k = 0; k < ps.Length; k++)
            {
                var grad = Draw(lengths[k]);
                ps[k].Grad = Tensor<float>.FromArray(grad, grad.Length);
                // torch.optim.SGD pass by pass, as TensorPrimitives computes it.
                var g = new float[grad.Length];
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(w[k], wd, grad, g);
                if (step == 1)
                {
                    g.CopyTo(v[k], 0);
                }
                else
                {
                    System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(v[k], mu, g, v[k]);
                }
                if (nesterov)
                {
                    System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(v[k], mu, g, g);
                }
                else
                {
                    v[k].CopyTo(g, 0);
                }
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(g, -lr, w[k], w[k]);
            }
            sgd.Step();
            for (int k = 0; k < ps.Length; k++)
            {
                Assert.True(ps[k].Value.ReadOnlySpan.SequenceEqual(w[k]), $"step {step}, parameter of {lengths[k]}");
            }
        }

        float[] Draw(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    [Fact]
    public void Adam_FirstStep_MovesEachWeightByTheLearningRateAgainstTheGradientSign()
    {
        var a = Param(1.0, 3.0);
        var b = Param(1.0, -0.001);
        var adam = new Adam<double>([a, b], lr: 0.01, eps: 1e-12);
        adam.Step();
        Assert.Equal(0.99, a.Value[0], 9);
        Assert.Equal(1.01, b.Value[0], 9);
    }

    [Fact]
    public void Adam_SecondStep_MatchesTheBiasCorrectedFormula()
    {
        var p = Param(0.0, 1.0);
        var adam = new Adam<double>([p], lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8);
        adam.Step();
        p.Grad!.Span[0] = -2.0;
        adam.Step();
        double m = 0.9 * 0.1 + 0.1 * -2, v = 0.99 * 0.01 + 0.01 * 4;
        double expected = -0.1 / (1 + 1e-8) - 0.1 * (m / (1 - 0.81)) / (Math.Sqrt(v / (1 - 0.99 * 0.99)) + 1e-8);
        Assert.Equal(expected, p.Value[0], 12);
    }

    [Fact]
    public void OneCycle_RisesToTheMaximumThenAnnealsToMaxOverDivTimesFinalDiv()
    {
        var s = new OneCycleSchedule(0.5, 100, warmup: 0.3);
        Assert.Equal(0.5 / 25, s.At(0), 15);
        Assert.Equal(0.5, s.At(30), 15);
        Assert.Equal(0.5 / 25 / 1e4, s.At(99), 15);
        for (int i = 1; i < 30; i++)
        {
            Assert.True(s.At(i) > s.At(i - 1));
        }
        for (int i = 31; i < 100; i++)
        {
            Assert.True(s.At(i) < s.At(i - 1));
        }
    }

    [Fact]
    public void Sequential_RunsEachScheduleFromItsOwnStep0_AndTheLastPastItsEnd()
    {
        var first = new OneCycleSchedule(0.5, 20);
        var second = new OneCycleSchedule(0.5, 10);
        var s = new SequentialSchedule([(20, first), (10, second)]);
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal(first.At(i), s.At(i));
        }
        for (int i = 0; i < 15; i++)
        {
            Assert.Equal(second.At(i), s.At(20 + i));
        }
        Assert.Equal(0.5 / 25, s.At(20), 15);  // the second cycle starts again from max/div
        Assert.Equal([20, 10], s.Steps);
        Assert.Throws<ArgumentException>(() => new SequentialSchedule([]));
        Assert.Throws<ArgumentException>(() => new SequentialSchedule([(0, first)]));
    }

    [Fact]
    public void Init_IsReproducibleFromTheSeed_AndHasTheKaimingScale()
    {
        var a = Tensor<double>.Zeros(64, 32, 3, 3);
        var b = Tensor<double>.Zeros(64, 32, 3, 3);
        Init.KaimingNormal(a, new Random(5));
        Init.KaimingNormal(b, new Random(5));
        Assert.Equal(a.ToArray(), b.ToArray());
        double var = a.ToArray().Select(v => v * v).Average();
        Assert.InRange(var, 0.9 * 2.0 / 288, 1.1 * 2.0 / 288);
        Init.XavierUniform(a, new Random(6));
        double bound = Math.Sqrt(6.0 / (288 + 576));
        Assert.All(a.ToArray(), v => Assert.InRange(v, -bound, bound));
    }
}
