namespace ConvGrad.Gpu;

/// <summary>
/// The convolution passes of <see cref="Conv"/> on tensors that live on a <see cref="GpuDevice"/> (same semantics,
/// layouts and validation; float32). Results go into tensors the caller allocated, so a pass allocates nothing but
/// the device's reusable split-K workspace. Kernels run asynchronously; <see cref="DeviceTensor.Download()"/> and
/// <see cref="GpuDevice.Synchronize"/> wait for them.
/// </summary>
public static class GpuConv
{
    /// <summary>Forward pass: <c>y = x ⋆ w + b</c>.</summary>
    /// <param name="x">Input <c>[N, C, spatial...]</c>.</param>
    /// <param name="w">Weight <c>[K, C/groups, kernel...]</c>.</param>
    /// <param name="b">Optional bias <c>[K]</c>.</param>
    /// <param name="geometry">Stride, padding, dilation and groups.</param>
    /// <param name="y">Output <c>[N, K, out...]</c>, overwritten; it must not be <paramref name="x"/>, <paramref name="w"/> or <paramref name="b"/> (<see cref="ArgumentException"/> naming both).</param>
    public static void Forward(DeviceTensor x, DeviceTensor w, DeviceTensor? b, ConvGeometry geometry, DeviceTensor y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(y);
        var dev = SameDevice(x, (w, nameof(w)), (b, nameof(b)), (y, nameof(y)));
        NoOverlap(y, nameof(y), (x, nameof(x)), (w, nameof(w)), (b, nameof(b)));
        var p = ConvProblem.ForConv(geometry, x.Shape, w.Shape);
        ShapeText.Check(y.Shape, p.YShape, nameof(y), "the convolution output");
        if (b is not null)
        {
            ShapeText.Check(b.Shape, [p.K], nameof(b), "the bias");
        }
        lock (dev.Gate)
        {
            GpuPasses.Forward(dev, p, x.View, w.View, b?.View, y.View);
        }
    }

    /// <summary>Backward-data: <c>dx = ∂L/∂x</c>; exactly 0 at input positions that no output reads.</summary>
    /// <param name="dy">Output gradient <c>[N, K, out...]</c>.</param>
    /// <param name="w">Weight <c>[K, C/groups, kernel...]</c>.</param>
    /// <param name="geometry">The geometry of the forward pass.</param>
    /// <param name="dx">Input gradient, shaped like the forward input; overwritten; it must not be <paramref name="dy"/> or <paramref name="w"/> (<see cref="ArgumentException"/> naming both).</param>
    public static void BackwardData(DeviceTensor dy, DeviceTensor w, ConvGeometry geometry, DeviceTensor dx)
    {
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(dx);
        var dev = SameDevice(dy, (w, nameof(w)), (dx, nameof(dx)));
        NoOverlap(dx, nameof(dx), (dy, nameof(dy)), (w, nameof(w)));
        var p = ConvProblem.ForConv(geometry, dx.Shape, w.Shape, nameof(dx));
        ShapeText.Check(dy.Shape, p.YShape, nameof(dy), "the output gradient");
        lock (dev.Gate)
        {
            GpuPasses.BackwardData(dev, p, dy.View, w.View, dx.View);
        }
    }

    /// <summary>Backward-weight: <c>dw = ∂L/∂w</c>, deterministic (the same bits on every run).</summary>
    /// <param name="x">The forward input <c>[N, C, spatial...]</c>.</param>
    /// <param name="dy">Output gradient <c>[N, K, out...]</c>.</param>
    /// <param name="geometry">The geometry of the forward pass.</param>
    /// <param name="dw">Weight gradient <c>[K, C/groups, kernel...]</c>; overwritten; it must not be <paramref name="x"/> or <paramref name="dy"/> (<see cref="ArgumentException"/> naming both).</param>
    public static void BackwardWeight(DeviceTensor x, DeviceTensor dy, ConvGeometry geometry, DeviceTensor dw)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(dw);
        var dev = SameDevice(x, (dy, nameof(dy)), (dw, nameof(dw)));
        NoOverlap(dw, nameof(dw), (x, nameof(x)), (dy, nameof(dy)));
        var p = ConvProblem.ForConv(geometry, x.Shape, dw.Shape, nameof(x), nameof(dw));
        ShapeText.Check(dy.Shape, p.YShape, nameof(dy), "the output gradient");
        lock (dev.Gate)
        {
            GpuPasses.BackwardWeight(dev, p, x.View, dy.View, dw.View);
        }
    }

    /// <summary>Bias gradient: <c>db[k] = Σ_n Σ_positions dy[n, k, ...]</c>.</summary>
    /// <param name="dy">Output gradient <c>[N, K, spatial...]</c>.</param>
    /// <param name="db">Bias gradient <c>[K]</c>; overwritten; it must not be <paramref name="dy"/>.</param>
    public static void BackwardBias(DeviceTensor dy, DeviceTensor db)
    {
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(db);
        var dev = SameDevice(dy, (db, nameof(db)));
        NoOverlap(db, nameof(db), (dy, nameof(dy)));
        if (dy.Shape.Length < 2)
        {
            throw new ArgumentException($"dy must have shape [N, K, spatial...]; got {ShapeText.Format(dy.Shape)}", nameof(dy));
        }
        int n = dy.Shape[0], k = dy.Shape[1];
        ShapeText.Check(db.Shape, [k], nameof(db), "the bias gradient");
        lock (dev.Gate)
        {
            GpuPasses.BackwardBias(dev, n, k, (int)(dy.Length / ((long)n * k)), dy.View, db.View);
        }
    }

    /// <summary>
    /// Throws an <see cref="ArgumentException"/> naming both parameters when the output <paramref name="output"/> is one
    /// of the inputs: no pass computes in place (a device tensor is one whole buffer, so sharing memory means being
    /// the same tensor).
    /// </summary>
    internal static void NoOverlap(DeviceTensor output, string outputName, params ReadOnlySpan<(DeviceTensor? Tensor, string Name)> inputs)
    {
        foreach (var (t, name) in inputs)
        {
            if (ReferenceEquals(t, output))
            {
                throw new ArgumentException(
                    $"{outputName} {ShapeText.Format(output.Shape)} is the same tensor as {name}; the passes do not compute in place: " +
                    $"write {outputName} into a tensor other than {name}", outputName);
            }
        }
    }

    /// <summary>The device of <paramref name="first"/>, after checking that every other tensor lives on it too.</summary>
    internal static GpuDevice SameDevice(DeviceTensor first, params ReadOnlySpan<(DeviceTensor? Tensor, string Name)> others)
    {
        foreach (var (t, name) in others)
        {
            if (t is not null && !ReferenceEquals(t.Device, first.Device))
            {
                throw new ArgumentException($"{name} lives on {t.Device} but the other operands on {first.Device}; copy it over first", name);
            }
        }
        return first.Device;
    }
}
