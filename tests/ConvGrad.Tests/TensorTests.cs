namespace ConvGrad.Tests;

public class TensorTests
{
    [Fact]
    public unsafe void Storage_Is64ByteAligned()
    {
        for (int i = 1; i < 40; i++)
        {
            var f = new Tensor<float>(i, 3);
            var d = new Tensor<double>(i);
            fixed (float* pf = f.Span)
            fixed (double* pd = d.Span)
            {
                Assert.Equal(0, (long)pf % 64);
                Assert.Equal(0, (long)pd % 64);
            }
        }
    }

    [Fact]
    public void Indexing_IsRowMajor()
    {
        var t = Tensor<double>.FromArray([0, 1, 2, 3, 4, 5], 2, 3);
        Assert.Equal(5.0, t[1, 2]);
        Assert.Equal(3.0, t[1, 0]);
        Assert.Equal(6, t.Length);
        Assert.Equal([3, 2], t.Reshape(3, 2).Shape.ToArray());
        t[0, 1] = 9;
        Assert.Equal(9.0, t.Span[1]);
        Assert.Equal(0.0, new Tensor<float>(4).Span[3]);
    }
}
