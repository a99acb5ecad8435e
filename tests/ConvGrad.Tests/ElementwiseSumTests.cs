using System.Numerics.Tensors;
using ConvGrad.Cpu;

namespace ConvGrad.Tests;

/// <summary>
/// The autograd's sum of two gradients, split over threads (<see cref="ElementwiseSum{T}"/>): the same bits as one
/// <see cref="TensorPrimitives.Add{T}(ReadOnlySpan{T}, ReadOnlySpan{T}, Span{T})"/> for any thread count, in place or
/// not, whatever the length (ranges of whole cache lines and a ragged end).
/// </summary>
public class ElementwiseSumTests
{
    [Theory]
    [InlineData(1 << 17)]
    [InlineData((1 << 17) + 37)]
    [InlineData(1000)]
    public void Sum_IsTheOneThreadSum_ForAnyThreadCount(int length)
    {
        var rng = new Random(length);
        var a = Draw(rng, length);
        var b = Draw(rng, length);
        var expected = new float[length];
        TensorPrimitives.Add(a.ReadOnlySpan, b.ReadOnlySpan, expected);
        foreach (int threads in new[] { 0, 1, 2, 3 })
        {
            var sum = Tensor<float>.Zeros(length);
            ElementwiseSum<float>.Add(a, b, sum, threads);
            Assert.True(sum.ReadOnlySpan.SequenceEqual(expected), $"{threads} threads");
            var inPlace = a.Clone();
            ElementwiseSum<float>.Add(inPlace, b, inPlace, threads);
            Assert.True(inPlace.ReadOnlySpan.SequenceEqual(expected), $"{threads} threads, in place");
        }
    }

    private static Tensor<float> Draw(Random rng, int length)
    {
        var t = Tensor<float>.Zeros(length);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        return t;
    }
}
