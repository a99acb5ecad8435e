using ConvGrad.Autograd;
using ConvGrad.Nn;

namespace ConvGrad.Tests;

/// <summary>A tensor's shape is logical whatever its memory format; the storage shape and the conversions are explicit.</summary>
public class MemoryFormatTests
{
    private static Tensor<T> Counting<T>(params int[] shape) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Zeros(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = T.CreateChecked(i + 1);
        }
        return t;
    }

    [Theory]
    [InlineData(MemoryFormat.ChannelsBlocked8)]
    [InlineData(MemoryFormat.ChannelsBlocked16)]
    public void BlockedTensor_ShapeIsLogical_StorageShapeIsBlocked_IndexerMapsLogicalIndices(MemoryFormat format)
    {
        var nchw = Counting<float>(2, 20, 3, 5);
        var b = nchw.ToFormat(format);
        int bs = format.BlockSize();
        Assert.Equal(format, b.Format);
        Assert.Equal([2, 20, 3, 5], b.Shape.ToArray());
        Assert.Equal([2, (20 + bs - 1) / bs, 3, 5, bs], b.StorageShape.ToArray());
        Assert.Equal(4, b.Rank);
        Assert.Equal(20, b.Dim(1));
        Assert.Equal(b.Span.Length, b.Length);
        for (int n = 0; n < 2; n++)
        {
            for (int c = 0; c < 20; c++)
            {
                for (int h = 0; h < 3; h++)
                {
                    for (int w = 0; w < 5; w++)
                    {
                        Assert.Equal(nchw[n, c, h, w], b[n, c, h, w]);
                    }
                }
            }
        }
        // The storage order: channel c of pixel (h, w) of image n sits in block c / B, lane c % B.
        Assert.Equal(nchw[1, 17, 2, 3], b.Span[(((1 * b.StorageShape[1] + 17 / bs) * 3 + 2) * 5 + 3) * bs + 17 % bs]);
        Assert.Equal(nchw.ToArray(), b.ToFormat(MemoryFormat.Contiguous).ToArray());
    }

    [Fact]
    public void Float64_ConvertsLikeFloat32()
    {
        var f = Counting<float>(3, 11, 4, 2);
        var d = Counting<double>(3, 11, 4, 2);
        foreach (var format in new[] { MemoryFormat.ChannelsBlocked8, MemoryFormat.ChannelsBlocked16 })
        {
            var bf = f.ToFormat(format);
            var bd = d.ToFormat(format);
            Assert.Equal(Array.ConvertAll(bf.ToArray(), v => (double)v), bd.ToArray());
            Assert.Equal(d.ToArray(), bd.ToFormat(MemoryFormat.Contiguous).ToArray());
        }
        // Blocked to blocked of another block.
        Assert.Equal(d.ToFormat(MemoryFormat.ChannelsBlocked16).ToArray(),
            d.ToFormat(MemoryFormat.ChannelsBlocked8).ToFormat(MemoryFormat.ChannelsBlocked16).ToArray());
    }

    [Fact]
    public void ToFormat_OfTheSameFormat_IsTheTensorItself_AndCloneKeepsTheFormat()
    {
        var b = Counting<float>(1, 3, 2, 2).ToFormat(MemoryFormat.ChannelsBlocked8);
        Assert.Same(b, b.ToFormat(MemoryFormat.ChannelsBlocked8));
        var c = b.Clone();
        Assert.Equal(MemoryFormat.ChannelsBlocked8, c.Format);
        Assert.Equal(b.ToArray(), c.ToArray());
    }

    [Fact]
    public void Fill_LeavesTheChannelTailZero_AndReshapeNeedsContiguous()
    {
        var b = Tensor<float>.Zeros([2, 3, 2, 2], MemoryFormat.ChannelsBlocked8);
        b.Fill(7);
        Assert.Equal(2 * 3 * 2 * 2 * 7f, b.ToArray().Sum());
        Assert.Equal(7f, b[1, 2, 1, 1]);
        Assert.Throws<InvalidOperationException>(() => b.Reshape(24));
        var u = Tensor<float>.Uninitialized([1, 3, 2, 2], MemoryFormat.ChannelsBlocked8);
        Assert.Equal(0f, u.Span[7]);
    }

    [Fact]
    public void BlockedFormat_RefusesShapesItCannotHold()
    {
        var e = Assert.Throws<ArgumentException>(() => Tensor<float>.Zeros([4, 5], MemoryFormat.ChannelsBlocked16));
        Assert.Equal("shape", e.ParamName);
        Assert.Contains("[4, 5]", e.Message);
        Assert.Equal("blockSize", Assert.Throws<ArgumentException>(() => new BlockedTensor([1, 2, 3], 4)).ParamName);
    }

    [Fact]
    public void BlockedTensor_IsAViewOfATensorInTheBlockedFormat()
    {
        var x = Counting<float>(2, 9, 3, 3);
        var b = BlockedTensor.FromNchw(x, 8);
        Assert.Equal(MemoryFormat.ChannelsBlocked8, b.Tensor.Format);
        Assert.Equal(x.Shape.ToArray(), b.Tensor.Shape.ToArray());
        b[1, 8, 2, 2] = -1;
        Assert.Equal(-1f, b.Tensor[1, 8, 2, 2]);
        Assert.Same(b.Tensor, BlockedTensor.Of(b.Tensor).Tensor);
        Assert.Throws<ArgumentException>(() => BlockedTensor.Of(x));
    }

    [Fact]
    public void NchwConvPasses_RefuseABlockedTensor_NamingIt()
    {
        var x = Tensor<float>.Zeros([1, 3, 5, 5], MemoryFormat.ChannelsBlocked8);
        var w = Tensor<float>.Zeros(4, 3, 3, 3);
        var e = Assert.Throws<ArgumentException>(() => Conv.Forward(x, w, null, ConvGeometry.Valid(2)));
        Assert.Equal("x", e.ParamName);
        Assert.Contains("blocked8 [1, 3, 5, 5]", e.Message);
        var dy = Tensor<float>.Zeros([1, 4, 3, 3], MemoryFormat.ChannelsBlocked8);
        Assert.Equal("dy", Assert.Throws<ArgumentException>(() => Conv.BackwardBias(dy)).ParamName);
    }

    /// <summary>A conv layer that keeps activations blocked reports the logical shape; the storage shape is separate.</summary>
    [SkippableFact]
    public void VariableShape_OfABlockedActivation_IsLogical()
    {
        var options = new ConvOptions { Threads = 1 };
        Skip.If(ConvGrad.Cpu.ConvPlanner.BlockSize(options) == 0, "no blocked kernels on this machine");
        var conv = new Conv2d<float>(3, 20, 3, ConvGeometry.Uniform(2, padding: 1), new Random(1), options: options) { KeepsActivationsBlocked = true };
        var y = conv.Forward(new Variable<float>(Counting<float>(2, 3, 6, 6)));
        Assert.True(y.IsChannelBlocked);
        Assert.Equal([2, 20, 6, 6], y.Shape.ToArray());
        Assert.Equal(y.Format.BlockSize(), y.StorageShape[^1]);
        Assert.Equal(y.Value.Length, Shapes.Product(y.StorageShape));
        var nchw = Functional.ToFormat(y, MemoryFormat.Contiguous);
        Assert.Equal(MemoryFormat.Contiguous, nchw.Format);
        Assert.Equal(y.Shape.ToArray(), nchw.Shape.ToArray());
    }
}
