using System.Numerics.Tensors;
using CgTensor = ConvGrad.Tensor<float>;
using SnTensor = System.Numerics.Tensors.Tensor<float>;

namespace ConvGrad.Tests;

/// <summary>Reshape views, wrapped arrays, span shapes and the System.Numerics.Tensors interop of <see cref="Tensor{T}"/>.</summary>
public class TensorInteropTests
{
    [Fact]
    public void Reshape_IsAView_ThatSharesTheElements()
    {
        using var t = CgTensor.FromArray([0, 1, 2, 3, 4, 5], 2, 3);
        var v = t.Reshape(3, 2);
        Assert.Equal([3, 2], v.Shape.ToArray());
        v[2, 1] = 50;
        Assert.Equal(50f, t[1, 2]);
        t[0, 0] = -1;
        Assert.Equal(-1f, v[0, 0]);
    }

    [Fact]
    public void DisposingAView_NeverReturnsTheStorageToThePool()
    {
        using var t = CgTensor.FromArray([1, 2, 3, 4], 4);
        var v = t.Reshape(2, 2);
        v.Dispose();
        Assert.Throws<ObjectDisposedException>(() => v.Span.Length);
        // The owner still reads its elements, and a new tensor of the same length gets other storage.
        using var other = CgTensor.Zeros(4);
        Assert.Equal([1f, 2f, 3f, 4f], t.ToArray());
        Assert.False(t.Overlaps(other));
    }

    [Fact]
    public void AViewOfADisposedTensor_Throws_InsteadOfReadingRecycledStorage()
    {
        var t = CgTensor.FromArray([1, 2, 3, 4], 4);
        var v = t.Reshape(2, 2);
        t.Dispose();
        var e = Assert.Throws<InvalidOperationException>(() => v.Span.Length);
        Assert.Contains("view", e.Message, StringComparison.Ordinal);
        Assert.Throws<ObjectDisposedException>(() => t.Reshape(4));
    }

    [Fact]
    public void Factories_TakeAnotherTensorsShape()
    {
        using var t = CgTensor.Zeros(2, 3, 4);
        using var z = CgTensor.Zeros(t.Shape);
        using var u = CgTensor.Uninitialized(t.Shape);
        using var f = CgTensor.FromSpan(t.ReadOnlySpan, t.Shape);
        using var n = new CgTensor(t.Shape);
        int[] legacy = [2, 12];
        using var r = t.Reshape(legacy);
        Assert.Equal(t.Shape.ToArray(), z.Shape.ToArray());
        Assert.Equal(t.Shape.ToArray(), u.Shape.ToArray());
        Assert.Equal(t.Shape.ToArray(), f.Shape.ToArray());
        Assert.Equal(t.Shape.ToArray(), n.Shape.ToArray());
        Assert.Equal(legacy, r.Shape.ToArray());
    }

    [Fact]
    public void Wrap_SharesTheCallersArray_WithoutACopy()
    {
        float[] data = [1, 2, 3, 4, 5, 6];
        var t = CgTensor.Wrap(data, 2, 3);
        t[1, 1] = 40;
        Assert.Equal(40f, data[4]);
        data[0] = -7;
        Assert.Equal(-7f, t[0, 0]);
        var view = t.Reshape(6);
        t.Dispose();
        Assert.Throws<ObjectDisposedException>(() => t.Span.Length);
        Assert.Throws<InvalidOperationException>(() => view.Span.Length);
        // The array never went into the pool: a new tensor of the same length does not hand it out.
        using var fresh = CgTensor.Zeros(6);
        fresh.Fill(9);
        Assert.Equal([-7f, 2, 3, 4, 40, 6], data);
        var e = Assert.Throws<ArgumentException>(() => CgTensor.Wrap(data, 4, 2));
        Assert.Equal("data", e.ParamName);
    }

    [Fact]
    public void Wrap_RunsThroughTheConvolution_LikeAPooledTensor()
    {
        var g = ConvGeometry.Uniform(2, padding: 1);
        float[] xs = Enumerable.Range(0, 2 * 3 * 5 * 5).Select(i => (float)Math.Sin(i)).ToArray();
        float[] ws = Enumerable.Range(0, 4 * 3 * 3 * 3).Select(i => (float)Math.Cos(i)).ToArray();
        using var wrapped = Conv.Forward(CgTensor.Wrap(xs, 2, 3, 5, 5), CgTensor.Wrap(ws, 4, 3, 3, 3), null, g);
        using var copied = Conv.Forward(CgTensor.FromArray(xs, 2, 3, 5, 5), CgTensor.FromArray(ws, 4, 3, 3, 3), null, g);
        Assert.Equal(copied.ToArray(), wrapped.ToArray());
    }

    [Fact]
    public void TensorSpans_ViewTheSameMemory()
    {
        using var t = CgTensor.FromArray([0, 1, 2, 3, 4, 5], 2, 3);
        var span = t.AsTensorSpan();
        Assert.Equal([(nint)2, 3], span.Lengths.ToArray());
        span[1, 2] = 42;
        Assert.Equal(42f, t[1, 2]);
        var ro = t.AsReadOnlyTensorSpan();
        Assert.Equal(1f, ro[0, 1]);
    }

    [Fact]
    public void AsSystemTensor_SharesStorage_AndFromTensorSpan_Copies()
    {
        using var t = CgTensor.FromArray([0, 1, 2, 3, 4, 5], 3, 2);
        SnTensor s = t.AsSystemTensor();
        Assert.Equal([(nint)3, 2], s.Lengths.ToArray());
        Assert.Equal(5f, s[2, 1]);
        s[0, 0] = 100;
        Assert.Equal(100f, t[0, 0]);

        SnTensor other = Tensor.Create([1f, 2, 3, 4, 5, 6], [(nint)2, 3]);
        using var back = CgTensor.FromTensorSpan(other);
        Assert.Equal([2, 3], back.Shape.ToArray());
        Assert.Equal([1f, 2, 3, 4, 5, 6], back.ToArray());
        back[0, 0] = -1;
        Assert.Equal(1f, other[0, 0]);
    }
}
