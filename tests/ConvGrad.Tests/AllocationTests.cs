using System.Numerics;
using ConvGrad.Autograd;
using ConvGrad.Nn;

namespace ConvGrad.Tests;

/// <summary>
/// Cheap outputs: write-into passes allocate nothing per call beyond a small constant (a work item when the pass is
/// threaded), a returned tensor that is disposed hands its storage to the next call, and the transposed convolution
/// layer reuses its buffers. Bytes are counted with <see cref="GC.GetAllocatedBytesForCurrentThread"/>.
/// </summary>
public class AllocationTests
{
    /// <summary>Per-call bytes allowed: the boxed work item of a threaded pass and a returned tensor's handle, not its elements.</summary>
    private const long SmallConstant = 256;

    private static readonly ConvOptions Threaded = new() { Threads = 4 };

    private static readonly ConvGeometry Same = ConvGeometry.Uniform(2, padding: 1);

    private static Tensor<T> Random<T>(Random rng, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Uninitialized(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = T.CreateChecked(rng.NextDouble() - 0.5);
        }
        return t;
    }

    /// <summary>Bytes the calling thread allocates in one call of <paramref name="call"/>, after three warm-up calls.</summary>
    private static long BytesPerCall(Action call)
    {
        for (int i = 0; i < 3; i++)
        {
            call();
        }
        long best = long.MaxValue;
        for (int i = 0; i < 3; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            call();
            best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return best;
    }

    /// <summary>Write-into passes of a threaded float problem (2·16·32·32 outputs × 144 taps) and a float64 one.</summary>
    private static Dictionary<string, Action> WriteIntoPasses<T>(int[] xShape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(1);
        int c = xShape[1];
        var x = Random<T>(rng, xShape);
        var w = Random<T>(rng, c, c, 3, 3);
        var b = Random<T>(rng, c);
        var y = Tensor<T>.Uninitialized(xShape);
        var dy = Random<T>(rng, xShape);
        var dx = Tensor<T>.Uninitialized(xShape);
        var dw = Tensor<T>.Uninitialized(c, c, 3, 3);
        return new()
        {
            ["Conv.Forward"] = () => Conv.Forward(x, w, b, Same, y, Threaded),
            ["Conv.BackwardData"] = () => Conv.BackwardData(dy, w, Same, dx, Threaded),
            ["Conv.BackwardWeight"] = () => Conv.BackwardWeight(x, dy, Same, dw, Threaded),
            ["ConvTranspose.Forward"] = () => ConvTranspose.Forward(x, w, b, Same, y, Threaded),
            ["ConvTranspose.BackwardData"] = () => ConvTranspose.BackwardData(dy, w, Same, dx, Threaded),
            ["ConvTranspose.BackwardWeight"] = () => ConvTranspose.BackwardWeight(x, dy, Same, dw, Threaded),
        };
    }

    public static TheoryData<string> PassNames => new(WriteIntoPasses<float>([1, 1, 3, 3]).Keys);

    [Theory]
    [MemberData(nameof(PassNames))]
    public void WriteInto_Float_AllocatesOnlyASmallConstant(string pass)
    {
        long bytes = BytesPerCall(WriteIntoPasses<float>([2, 16, 32, 32])[pass]);
        Assert.True(bytes <= SmallConstant, $"{pass} allocated {bytes} bytes per call");
    }

    [Theory]
    [MemberData(nameof(PassNames))]
    public void WriteInto_Double_AllocatesOnlyASmallConstant(string pass)
    {
        long bytes = BytesPerCall(WriteIntoPasses<double>([1, 4, 8, 8])[pass]);
        Assert.True(bytes <= SmallConstant, $"{pass} allocated {bytes} bytes per call");
    }

    /// <summary>
    /// The returning overloads, disposed after each call, allocate a handle per call but no storage: the output
    /// (128 KiB here) comes back from the pool.
    /// </summary>
    [Fact]
    public void Returning_Disposed_RecyclesTheStorage()
    {
        var rng = new Random(2);
        // An odd shape no other test uses, so no test running in parallel takes the recycled storage first.
        int[] xShape = [2, 16, 31, 33];
        var x = Random<float>(rng, xShape);
        var w = Random<float>(rng, 16, 16, 3, 3);
        var dy = Random<float>(rng, xShape);
        var calls = new Dictionary<string, Action>
        {
            ["Conv.Forward"] = () => Conv.Forward(x, w, null, Same, Threaded).Dispose(),
            ["Conv.BackwardData"] = () => Conv.BackwardData(dy, w, Same, xShape, Threaded).Dispose(),
            ["Conv.BackwardWeight"] = () => Conv.BackwardWeight(x, dy, Same, w.Shape, Threaded).Dispose(),
            ["ConvTranspose.Forward"] = () => ConvTranspose.Forward(x, w, null, Same, Threaded).Dispose(),
        };
        foreach (var (pass, call) in calls)
        {
            long bytes = BytesPerCall(call);
            Assert.True(bytes <= SmallConstant, $"{pass} allocated {bytes} bytes per call");
        }
    }

    /// <summary>Without the dispose every call allocates its output (the test above can fail).</summary>
    [Fact]
    public void Returning_NotDisposed_AllocatesItsOutput()
    {
        var rng = new Random(3);
        var x = Random<float>(rng, 2, 16, 32, 32);
        var w = Random<float>(rng, 16, 16, 3, 3);
        long bytes = BytesPerCall(() => Conv.Forward(x, w, null, Same, Threaded));
        Assert.True(bytes >= x.Length * sizeof(float), $"allocated {bytes} bytes per call");
    }

    /// <summary>
    /// A training step through the transposed-convolution and convolution layers, in a <see cref="TensorScope"/>,
    /// allocates no tensor storage once the pool is warm: only the recorded nodes and handles, far below one output.
    /// </summary>
    [Fact]
    public void ConvLayers_TrainingStepInAScope_AllocatesNoStorage()
    {
        var g = ConvGeometry.Uniform(2, stride: 2, padding: 1, outputPadding: 1);
        var up = new ConvTranspose2d<float>(16, 8, 3, g, new Random(4), options: Threaded);
        var conv = new Conv2d<float>(8, 8, 3, Same, new Random(5), options: Threaded);
        var x = new Variable<float>(Random<float>(new Random(6), 2, 16, 16, 16), requiresGrad: true);
        var r = new Variable<float>(Random<float>(new Random(7), 2, 8, 32, 32));
        long bytes = BytesPerCall(() =>
        {
            using (TensorScope.Begin())
            {
                Functional.Sum(conv.Forward(up.Forward(x)) * r).Backward();
            }
        });
        // The output alone is 2·8·32·32 floats = 64 KiB; a step's nodes, variables and handles are a few KiB.
        Assert.True(bytes <= 16 * 1024, $"a step allocated {bytes} bytes");
    }

    /// <summary>A scope's results go back to the pool when it ends, so reading one afterwards throws instead of showing reused memory.</summary>
    [Fact]
    public void ScopedResult_ReadAfterItsScope_Throws()
    {
        var conv = new Conv2d<float>(2, 2, 3, Same, new Random(8), options: Threaded);
        Variable<float> y;
        using (TensorScope.Begin())
        {
            y = conv.Forward(new Variable<float>(Random<float>(new Random(9), 1, 2, 5, 5)));
            Assert.Equal(50, y.Value.ToArray().Length);
        }
        Assert.Throws<ObjectDisposedException>(() => y.Value.ToArray());
    }

    [Fact]
    public void Dispose_ThenAnyRead_Throws_AndDisposeTwiceIsHarmless()
    {
        var t = Tensor<float>.Zeros(3, 5);
        t.Dispose();
        Assert.Throws<ObjectDisposedException>(() => t.Span[0]);
        Assert.Throws<ObjectDisposedException>(() => t.ToArray());
        Assert.Throws<ObjectDisposedException>(() => t[0, 0]);
        t.Dispose();
        Assert.Equal([3, 5], t.Shape.ToArray());
    }

    /// <summary>The next tensor of the same length gets the disposed storage; a second dispose does not hand it out twice.</summary>
    [Fact]
    public void DisposedStorage_ServesTheNextTensor_Once()
    {
        int[] shape = [7, 11, 13, 17];
        var a = Tensor<double>.Uninitialized(shape);
        a.Dispose();
        var b = Tensor<double>.Zeros(shape);
        Assert.True(b.Overlaps(a), "the pool should hand a's storage to b");
        Assert.All(b.ToArray(), v => Assert.Equal(0.0, v));
        a.Dispose();
        var c = Tensor<double>.Uninitialized(shape);
        Assert.False(c.Overlaps(b), "a second dispose must not return storage that b now uses");
        b.Span[0] = 1;
        Assert.Equal(1.0, b.Span[0]);
    }
}
