using ConvGrad.Autograd;
using ConvGrad.Cpu.Blocked;
using ConvGrad.Nn;

namespace ConvGrad.Tests;

/// <summary>The one op contract: an operation that declares no format sees NCHW inputs, whatever layer made them.</summary>
public class OpDispatchTests
{
    /// <summary>
    /// Per-channel spatial sums <c>[N, C, H, W] → [N, C]</c> written against NCHW order: on blocked storage it would mix
    /// channels and pixels. It declares no format.
    /// </summary>
    private sealed class ChannelSums : Function<float>
    {
        protected override Tensor<float> Forward(FunctionContext<float> context, IReadOnlyList<Tensor<float>> inputs)
        {
            var x = inputs[0];
            int n = x.Dim(0), c = x.Dim(1), plane = x.Dim(2) * x.Dim(3);
            Assert.Equal(MemoryFormat.Contiguous, x.Format);
            context.SaveForBackward(x);
            var y = Tensor<float>.Zeros(n, c);
            for (int i = 0; i < n * c; i++)
            {
                y.Span[i] = System.Numerics.Tensors.TensorPrimitives.Sum(x.ReadOnlySpan.Slice(i * plane, plane));
            }
            return y;
        }

        protected override Tensor<float>?[] Backward(FunctionContext<float> context, Tensor<float> outputGradient)
        {
            var x = context.SavedTensors[0];
            int plane = x.Dim(2) * x.Dim(3);
            var dx = Tensor<float>.Zeros(x.Shape);
            for (int i = 0; i < outputGradient.Length; i++)
            {
                dx.Span.Slice(i * plane, plane).Fill(outputGradient.ReadOnlySpan[i]);
            }
            return [dx];
        }
    }

    private static Tensor<float> Random(int seed, params int[] shape)
    {
        var rng = new Random(seed);
        var t = Tensor<float>.Zeros(shape);
        foreach (ref var v in t.Span)
        {
            v = (float)(rng.NextDouble() * 2 - 1);
        }
        return t;
    }

    [SkippableFact]
    public void OpDeclaringNothing_FedBlockedActivationsFromAConvLayer_ComputesOnNchw()
    {
        var options = new ConvOptions { Threads = 2 };
        Skip.If(ConvGrad.Cpu.ConvPlanner.BlockSize(options) == 0, "no blocked kernels on this machine");
        var input = Random(1, 2, 20, 6, 5);
        var results = new List<(float[] Y, float[] DW)>();
        foreach (bool blocked in new[] { true, false })
        {
            var conv = new Conv2d<float>(20, 20, 3, ConvGeometry.Uniform(2, padding: 1), new Random(2), options: options) { KeepsActivationsBlocked = blocked };
            var h = conv.Forward(new Variable<float>(input.Clone()));
            Assert.Equal(blocked, h.IsChannelBlocked);
            var y = new ChannelSums().Apply(h);
            Assert.Equal(MemoryFormat.Contiguous, y.Format);
            Assert.Equal([2, 20], y.Shape.ToArray());
            Functional.Sum(y * new Variable<float>(Random(3, 2, 20))).Backward();
            results.Add((y.Value.ToArray(), conv.Weight.Grad!.ToArray()));
        }
        Assert.Equal(results[1].Y.Length, results[0].Y.Length);
        for (int i = 0; i < results[0].Y.Length; i++)
        {
            Assert.Equal(results[1].Y[i], results[0].Y[i], 1e-3f);
        }
        for (int i = 0; i < results[0].DW.Length; i++)
        {
            Assert.Equal(results[1].DW[i], results[0].DW[i], 1e-2f);
        }
    }

    [Fact]
    public void ElementwiseOps_KeepTheFirstOperandsFormat_AndConvertTheSecond()
    {
        var a = new Variable<double>(MemoryFormatTestsData.Counting(2, 9, 3, 3).ToFormat(MemoryFormat.ChannelsBlocked8), requiresGrad: true);
        var b = new Variable<double>(MemoryFormatTestsData.Counting(2, 9, 3, 3), requiresGrad: true);
        var sum = a + b;
        Assert.Equal(MemoryFormat.ChannelsBlocked8, sum.Format);
        Assert.Equal(2 * b.Value[1, 8, 2, 1], sum.Value[1, 8, 2, 1]);
        Functional.Sum(sum).Backward();
        Assert.Equal(MemoryFormat.ChannelsBlocked8, a.Grad!.Format);
        Assert.Equal(MemoryFormat.Contiguous, b.Grad!.Format);
        Assert.Equal(1.0, b.Grad[1, 8, 2, 1]);
        Assert.Equal(1.0, a.Grad[1, 8, 2, 1]);
        // An op without a blocked kernel (reshape) computes on NCHW.
        Assert.Equal(MemoryFormat.Contiguous, Functional.Reshape(a, 2, 81).Format);
    }
}

/// <summary>Shared test data.</summary>
internal static class MemoryFormatTestsData
{
    /// <summary>1, 2, 3, ... in row-major order.</summary>
    public static Tensor<double> Counting(params int[] shape)
    {
        var t = Tensor<double>.Zeros(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = i + 1;
        }
        return t;
    }
}
