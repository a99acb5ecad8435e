using System.Numerics;

namespace ConvGrad;

/// <summary>
/// Transposed convolution (PyTorch's <c>ConvTranspose1d/2d/3d</c>, ONNX's output-size rule for asymmetric padding):
/// input <c>x [N, C_in, in...]</c>, weight <c>w [C_in, C_out/groups, kernel...]</c>, bias <c>b [C_out]</c>,
/// output <c>y [N, C_out, out...]</c> with <c>out = (in − 1)·s + d·(k − 1) + 1 + output_padding − pb − pa</c>.
/// </summary>
/// <remarks>
/// It is the adjoint of <see cref="Conv"/>: its forward pass is a convolution's backward-data, its backward-data
/// a convolution's forward, its weight gradient a convolution's weight gradient with the roles of input and
/// output gradient exchanged. All three run through the same engine.
/// <para>
/// Overlapping memory: as for <see cref="Conv"/>, no pass computes in place; the overloads that write into a tensor you
/// pass throw an <see cref="ArgumentException"/> naming both parameters when it shares memory with an input.
/// Returned tensors own pooled storage: dispose them to recycle it.
/// </para>
/// </remarks>
public static class ConvTranspose
{
    /// <summary>Forward pass: scatter every input element through the kernel with stride, padding and dilation.</summary>
    /// <param name="x">Input <c>[N, C_in, in...]</c>.</param>
    /// <param name="w">Weight <c>[C_in, C_out/groups, kernel...]</c>.</param>
    /// <param name="b">Optional bias <c>[C_out]</c>.</param>
    /// <param name="geometry">Stride, padding, dilation, output padding and groups.</param>
    /// <param name="options">Engine and threads.</param>
    /// <returns>The output <c>[N, C_out, out...]</c>, a new tensor owning pooled storage (dispose it to recycle the storage).</returns>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static Tensor<T> Forward<T>(Tensor<T> x, Tensor<T> w, Tensor<T>? b, ConvGeometry geometry, ConvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(geometry);
        var p = ConvProblem.ForTranspose(geometry, x.Shape, w.Shape);
        var y = Tensor<T>.Uninitialized(p.TransposeOutputShape);
        Run(p, x, w, b, y, options);
        return y;
    }

    /// <summary>Forward pass into an existing output tensor <paramref name="y"/> (no allocation).</summary>
    /// <param name="x">Input <c>[N, C_in, in...]</c>.</param>
    /// <param name="w">Weight <c>[C_in, C_out/groups, kernel...]</c>.</param>
    /// <param name="b">Optional bias <c>[C_out]</c>.</param>
    /// <param name="geometry">Stride, padding, dilation, output padding and groups.</param>
    /// <param name="y">The output <c>[N, C_out, out...]</c>, overwritten; it must not share memory with <paramref name="x"/>, <paramref name="w"/> or <paramref name="b"/>.</param>
    /// <param name="options">Engine and threads.</param>
    /// <exception cref="ArgumentException">A shape is wrong, or <paramref name="y"/> overlaps an input (the message names both).</exception>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static void Forward<T>(Tensor<T> x, Tensor<T> w, Tensor<T>? b, ConvGeometry geometry, Tensor<T> y, ConvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(y);
        var p = ConvProblem.ForTranspose(geometry, x.Shape, w.Shape);
        ConvProblem.CheckShape(y.Shape, p.TransposeOutputShape, nameof(y), "the transposed convolution output");
        Run(p, x, w, b, y, options);
    }

    /// <summary>Backward-data: <c>dx = ∂L/∂x</c> (a convolution of <paramref name="dy"/> with <paramref name="w"/>).</summary>
    /// <param name="dy">Output gradient <c>[N, C_out, out...]</c>.</param>
    /// <param name="w">Weight <c>[C_in, C_out/groups, kernel...]</c>.</param>
    /// <param name="geometry">The geometry of the forward pass.</param>
    /// <param name="inputShape">The shape of the forward input <c>x</c>.</param>
    /// <param name="options">Engine and threads.</param>
    /// <returns><c>dx</c>, a new tensor owning pooled storage.</returns>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static Tensor<T> BackwardData<T>(Tensor<T> dy, Tensor<T> w, ConvGeometry geometry, ReadOnlySpan<int> inputShape, ConvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(geometry);
        var p = ConvProblem.ForTranspose(geometry, inputShape, w.Shape, nameof(inputShape));
        var dx = Tensor<T>.Uninitialized(p.TransposeInputShape);
        Conv.Run.Forward(p, dy, w, null, dx, options, xName: nameof(dy), yName: nameof(dx));
        return dx;
    }

    /// <summary>Backward-data into an existing tensor <paramref name="dx"/> whose shape is the forward input's.</summary>
    /// <param name="dy">Output gradient <c>[N, C_out, out...]</c>.</param>
    /// <param name="w">Weight <c>[C_in, C_out/groups, kernel...]</c>.</param>
    /// <param name="geometry">The geometry of the forward pass.</param>
    /// <param name="dx">The input gradient <c>[N, C_in, in...]</c>, overwritten; it must not share memory with <paramref name="dy"/> or <paramref name="w"/>.</param>
    /// <param name="options">Engine and threads.</param>
    /// <exception cref="ArgumentException">A shape is wrong, or <paramref name="dx"/> overlaps an input (the message names both).</exception>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static void BackwardData<T>(Tensor<T> dy, Tensor<T> w, ConvGeometry geometry, Tensor<T> dx, ConvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(dx);
        var p = ConvProblem.ForTranspose(geometry, dx.Shape, w.Shape, nameof(dx));
        Conv.Run.Forward(p, dy, w, null, dx, options, xName: nameof(dy), yName: nameof(dx));
    }

    /// <summary>Backward-weight: <c>dw = ∂L/∂w</c>.</summary>
    /// <param name="x">The forward input <c>[N, C_in, in...]</c>.</param>
    /// <param name="dy">Output gradient <c>[N, C_out, out...]</c>.</param>
    /// <param name="geometry">The geometry of the forward pass.</param>
    /// <param name="kernelShape">The weight shape <c>[C_in, C_out/groups, kernel...]</c>.</param>
    /// <param name="options">Engine and threads.</param>
    /// <returns><c>dw</c>, a new tensor owning pooled storage.</returns>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static Tensor<T> BackwardWeight<T>(Tensor<T> x, Tensor<T> dy, ConvGeometry geometry, ReadOnlySpan<int> kernelShape, ConvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(geometry);
        var p = ConvProblem.ForTranspose(geometry, x.Shape, kernelShape, nameof(x), nameof(kernelShape));
        var dw = Tensor<T>.Uninitialized(p.WeightShape);
        // In the convolution orientation the transposed output gradient plays X and the transposed input plays dY.
        Conv.Run.BackwardWeight(p, dy, x, dw, options, xName: nameof(dy), dyName: nameof(x));
        return dw;
    }

    /// <summary>Backward-weight into an existing tensor <paramref name="dw"/> shaped like the weight.</summary>
    /// <param name="x">The forward input <c>[N, C_in, in...]</c>.</param>
    /// <param name="dy">Output gradient <c>[N, C_out, out...]</c>.</param>
    /// <param name="geometry">The geometry of the forward pass.</param>
    /// <param name="dw">The weight gradient <c>[C_in, C_out/groups, kernel...]</c>, overwritten; it must not share memory with <paramref name="x"/> or <paramref name="dy"/>.</param>
    /// <param name="options">Engine and threads.</param>
    /// <exception cref="ArgumentException">A shape is wrong, or <paramref name="dw"/> overlaps an input (the message names both).</exception>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static void BackwardWeight<T>(Tensor<T> x, Tensor<T> dy, ConvGeometry geometry, Tensor<T> dw, ConvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(dw);
        var p = ConvProblem.ForTranspose(geometry, x.Shape, dw.Shape, nameof(x), nameof(dw));
        Conv.Run.BackwardWeight(p, dy, x, dw, options, xName: nameof(dy), dyName: nameof(x));
    }

    /// <summary>Bias gradient: <c>db[c] = Σ_n Σ_positions dy[n, c, ...]</c> (the same sum as <see cref="Conv.BackwardBias{T}(Tensor{T}, ConvOptions?)"/>).</summary>
    /// <param name="dy">Output gradient <c>[N, C_out, spatial...]</c>.</param>
    /// <param name="options">The engine; null means <see cref="ConvOptions.Default"/>.</param>
    /// <returns>A new tensor <c>[C_out]</c>.</returns>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static Tensor<T> BackwardBias<T>(Tensor<T> dy, ConvOptions? options = null) where T : unmanaged, IFloatingPointIeee754<T> =>
        Conv.BackwardBias(dy, options);

    /// <summary>Bias gradient into <paramref name="db"/>: <c>db[c] = Σ_n Σ_positions dy[n, c, ...]</c> (overwrites db).</summary>
    /// <param name="dy">Output gradient <c>[N, C_out, spatial...]</c>.</param>
    /// <param name="db">The bias gradient <c>[C_out]</c>; overwritten.</param>
    /// <param name="options">The engine; null means <see cref="ConvOptions.Default"/>.</param>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static void BackwardBias<T>(Tensor<T> dy, Tensor<T> db, ConvOptions? options = null) where T : unmanaged, IFloatingPointIeee754<T> =>
        Conv.BackwardBias(dy, db, options);

    /// <summary>The checked forward pass into <paramref name="y"/>: the convolution's backward-data, then the bias.</summary>
    private static void Run<T>(ConvProblem p, Tensor<T> x, Tensor<T> w, Tensor<T>? b, Tensor<T> y, ConvOptions? options)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (b is not null)
        {
            ConvProblem.CheckShape(b.Shape, [p.C], nameof(b), "the bias");
            Conv.Run.CheckNoOverlap(y, nameof(y), b, nameof(b));
        }
        Conv.Run.BackwardData(p, x, w, y, options, dyName: nameof(x), dxName: nameof(y));
        if (b is not null)
        {
            AddBias(y, b, p);
        }
    }

    private static void AddBias<T>(Tensor<T> y, Tensor<T> b, ConvProblem p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var ys = y.Span;
        var bs = b.ReadOnlySpan;
        int spatial = p.InSpatial;
        for (int n = 0; n < p.N; n++)
        for (int c = 0; c < p.C; c++)
        {
            var row = ys.Slice((n * p.C + c) * spatial, spatial);
            T bias = bs[c];
            for (int i = 0; i < row.Length; i++)
            {
                row[i] += bias;
            }
        }
    }
}
