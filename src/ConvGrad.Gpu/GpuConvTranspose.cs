namespace ConvGrad.Gpu;

/// <summary>
/// The transposed-convolution passes of <see cref="ConvTranspose"/> on device tensors. Through the
/// <see cref="ConvProblem"/> mapping they are the convolution kernels with roles exchanged: the forward pass is the
/// phase-split backward-data kernel, backward-data the forward kernel, backward-weight the split-K kernel with
/// input and output gradient swapped.
/// </summary>
public static class GpuConvTranspose
{
    /// <summary>Forward pass of the transposed convolution.</summary>
    /// <param name="x">Input <c>[N, C_in, in...]</c>.</param>
    /// <param name="w">Weight <c>[C_in, C_out/groups, kernel...]</c>.</param>
    /// <param name="b">Optional bias <c>[C_out]</c>.</param>
    /// <param name="geometry">Stride, padding, dilation, output padding and groups.</param>
    /// <param name="y">Output <c>[N, C_out, out...]</c>; overwritten; it must not be <paramref name="x"/>, <paramref name="w"/> or <paramref name="b"/> (<see cref="ArgumentException"/> naming both).</param>
    public static void Forward(DeviceTensor x, DeviceTensor w, DeviceTensor? b, ConvGeometry geometry, DeviceTensor y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(y);
        var dev = GpuConv.SameDevice(x, (w, nameof(w)), (b, nameof(b)), (y, nameof(y)));
        GpuConv.NoOverlap(y, nameof(y), (x, nameof(x)), (w, nameof(w)), (b, nameof(b)));
        var p = ConvProblem.ForTranspose(geometry, x.Shape, w.Shape);
        ShapeText.Check(y.Shape, p.XShape, nameof(y), "the transposed convolution output");
        if (b is not null)
        {
            ShapeText.Check(b.Shape, [p.C], nameof(b), "the bias");
        }
        lock (dev.Gate)
        {
            GpuPasses.BackwardData(dev, p, x.View, w.View, y.View);
            if (b is not null)
            {
                GpuPasses.AddBias(dev, p.N, p.C, p.InSpatial, y.View, b.View);
            }
        }
    }

    /// <summary>Backward-data of the transposed convolution (a convolution of <paramref name="dy"/> with <paramref name="w"/>).</summary>
    /// <param name="dy">Output gradient <c>[N, C_out, out...]</c>.</param>
    /// <param name="w">Weight <c>[C_in, C_out/groups, kernel...]</c>.</param>
    /// <param name="geometry">The geometry of the forward pass.</param>
    /// <param name="dx">Input gradient <c>[N, C_in, in...]</c>; overwritten; it must not be <paramref name="dy"/> or <paramref name="w"/> (<see cref="ArgumentException"/> naming both).</param>
    public static void BackwardData(DeviceTensor dy, DeviceTensor w, ConvGeometry geometry, DeviceTensor dx)
    {
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(dx);
        var dev = GpuConv.SameDevice(dy, (w, nameof(w)), (dx, nameof(dx)));
        GpuConv.NoOverlap(dx, nameof(dx), (dy, nameof(dy)), (w, nameof(w)));
        var p = ConvProblem.ForTranspose(geometry, dx.Shape, w.Shape, nameof(dx));
        ShapeText.Check(dy.Shape, p.XShape, nameof(dy), "the output gradient");
        lock (dev.Gate)
        {
            GpuPasses.Forward(dev, p, dy.View, w.View, null, dx.View);
        }
    }

    /// <summary>Backward-weight of the transposed convolution; deterministic.</summary>
    /// <param name="x">The forward input <c>[N, C_in, in...]</c>.</param>
    /// <param name="dy">Output gradient <c>[N, C_out, out...]</c>.</param>
    /// <param name="geometry">The geometry of the forward pass.</param>
    /// <param name="dw">Weight gradient <c>[C_in, C_out/groups, kernel...]</c>; overwritten; it must not be <paramref name="x"/> or <paramref name="dy"/> (<see cref="ArgumentException"/> naming both).</param>
    public static void BackwardWeight(DeviceTensor x, DeviceTensor dy, ConvGeometry geometry, DeviceTensor dw)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(dw);
        var dev = GpuConv.SameDevice(x, (dy, nameof(dy)), (dw, nameof(dw)));
        GpuConv.NoOverlap(dw, nameof(dw), (x, nameof(x)), (dy, nameof(dy)));
        var p = ConvProblem.ForTranspose(geometry, x.Shape, dw.Shape, nameof(x), nameof(dw));
        ShapeText.Check(dy.Shape, p.XShape, nameof(dy), "the output gradient");
        lock (dev.Gate)
        {
            // In the convolution orientation the transposed output gradient plays X and the transposed input plays dY.
            GpuPasses.BackwardWeight(dev, p, dy.View, x.View, dw.View);
        }
    }
}
