using System.Numerics;
using System.Numerics.Tensors;

namespace ConvGrad.Nn;

/// <summary>
/// Convolution layer (PyTorch <c>nn.Conv1d/2d/3d</c>): <c>y = x ⋆ w + b</c>.
/// Shapes: x <c>[N, C, in...]</c>, weight <c>[K, C/groups, k...]</c>, bias <c>[K]</c>, y <c>[N, K, out...]</c>.
/// Backward: <c>dx</c> = <see cref="Conv.BackwardData{T}(Tensor{T}, Tensor{T}, ConvGeometry, Tensor{T}, ConvOptions?)"/>,
/// <c>dw</c> = <see cref="Conv.BackwardWeight{T}(Tensor{T}, Tensor{T}, ConvGeometry, Tensor{T}, ConvOptions?)"/>,
/// <c>db[k] = Σ_{n,o} dy[n,k,o]</c> — every gradient comes from the engine.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public class ConvNd<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ConvOptions? _options;
    private Tensor<T>? _x, _y, _dx;

    /// <summary>Creates the layer with Kaiming-normal weights from <paramref name="rng"/> and a zero bias.</summary>
    /// <param name="inChannels">C.</param>
    /// <param name="outChannels">K.</param>
    /// <param name="kernel">Kernel size per spatial axis (its length is the number of spatial axes).</param>
    /// <param name="geometry">Stride, padding, dilation, groups; must have as many axes as <paramref name="kernel"/>.</param>
    /// <param name="rng">Seeded generator for the initial weights.</param>
    /// <param name="bias">Whether the layer has a bias.</param>
    /// <param name="options">Engine and threads for the passes.</param>
    public ConvNd(int inChannels, int outChannels, int[] kernel, ConvGeometry geometry, Random rng, bool bias = true, ConvOptions? options = null)
    {
        CheckArguments(inChannels, outChannels, kernel, geometry);
        Geometry = geometry;
        _options = options;
        Weight = new Parameter<T>("weight", Tensor<T>.Zeros([outChannels, inChannels / geometry.Groups, .. kernel]));
        Init.KaimingNormal(Weight.Value, rng);
        Bias = bias ? new Parameter<T>("bias", Tensor<T>.Zeros(outChannels)) : null;
    }

    /// <summary>Stride, padding, dilation and groups.</summary>
    public ConvGeometry Geometry { get; }

    /// <summary>The weight <c>[K, C/groups, k...]</c>.</summary>
    public Parameter<T> Weight { get; }

    /// <summary>The bias <c>[K]</c>, or null.</summary>
    public Parameter<T>? Bias { get; }

    /// <inheritdoc />
    public override IEnumerable<Parameter<T>> Parameters() => Bias is null ? [Weight] : [Weight, Bias];

    /// <inheritdoc />
    public override Tensor<T> Forward(Tensor<T> x)
    {
        CheckInput(x, Geometry.Dims + 2, "Conv", "[N, C, spatial...]", Weight.Value.Dim(1) * Geometry.Groups);
        int k = Weight.Value.Dim(0);
        var outSpatial = Geometry.ConvOutputSpatial(x.Shape[2..], Weight.Value.Shape[2..]);
        var y = Reuse(ref _y, [x.Dim(0), k, .. outSpatial], x);
        Conv.Forward(x, Weight.Value, Bias?.Value, Geometry, y, _options);
        _x = x;
        return y;
    }

    /// <inheritdoc />
    public override Tensor<T>? Backward(Tensor<T> dy)
    {
        var x = Cached(_x, "Conv");
        Conv.BackwardWeight(x, dy, Geometry, Weight.Grad, _options);
        if (Bias is not null)
        {
            BiasGradient(dy, Bias.Grad);
        }
        if (!ComputeInputGradient)
        {
            return null;
        }
        var dx = Reuse(ref _dx, x.Shape, dy);
        Conv.BackwardData(dy, Weight.Value, Geometry, dx, _options);
        return dx;
    }

    /// <summary>The checks shared by the convolution and transposed-convolution layers' constructors.</summary>
    internal static void CheckArguments(int inChannels, int outChannels, int[] kernel, ConvGeometry geometry)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(geometry);
        if (kernel.Length != geometry.Dims)
        {
            throw new ArgumentException($"kernel has {kernel.Length} axes but geometry has {geometry.Dims}", nameof(kernel));
        }
        if (inChannels < 1 || outChannels < 1 || inChannels % geometry.Groups != 0 || outChannels % geometry.Groups != 0)
        {
            throw new ArgumentException($"channels must be >= 1 and divisible by groups; got in {inChannels}, out {outChannels}, groups {geometry.Groups}", nameof(inChannels));
        }
    }

    /// <summary><c>db[k] = Σ_n Σ_positions dy[n, k, ...]</c>, in a fixed order.</summary>
    internal static void BiasGradient(Tensor<T> dy, Tensor<T> db)
    {
        int n = dy.Dim(0), k = dy.Dim(1), plane = (int)(dy.Length / ((long)n * k));
        var d = dy.ReadOnlySpan;
        var g = db.Span;
        g.Clear();
        for (int b = 0; b < n; b++)
        for (int c = 0; c < k; c++)
        {
            g[c] += TensorPrimitives.Sum(d.Slice((b * k + c) * plane, plane));
        }
    }
}

/// <summary>1-D convolution (<c>nn.Conv1d</c>): x <c>[N, C, L]</c>, weight <c>[K, C/groups, k]</c>.</summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Conv1d<T>(int inChannels, int outChannels, int kernel, ConvGeometry geometry, Random rng, bool bias = true, ConvOptions? options = null)
    : ConvNd<T>(inChannels, outChannels, [kernel], geometry, rng, bias, options) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>2-D convolution (<c>nn.Conv2d</c>): x <c>[N, C, H, W]</c>, weight <c>[K, C/groups, kh, kw]</c>.</summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Conv2d<T>(int inChannels, int outChannels, int kernel, ConvGeometry geometry, Random rng, bool bias = true, ConvOptions? options = null)
    : ConvNd<T>(inChannels, outChannels, [kernel, kernel], geometry, rng, bias, options) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>3-D convolution (<c>nn.Conv3d</c>): x <c>[N, C, D, H, W]</c>, weight <c>[K, C/groups, kd, kh, kw]</c>.</summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Conv3d<T>(int inChannels, int outChannels, int kernel, ConvGeometry geometry, Random rng, bool bias = true, ConvOptions? options = null)
    : ConvNd<T>(inChannels, outChannels, [kernel, kernel, kernel], geometry, rng, bias, options) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// Transposed convolution layer (<c>nn.ConvTranspose1d/2d/3d</c>).
/// Shapes: x <c>[N, C_in, in...]</c>, weight <c>[C_in, C_out/groups, k...]</c>, bias <c>[C_out]</c>, y <c>[N, C_out, out...]</c>
/// with <c>out = (in − 1)·s + d·(k − 1) + 1 + output_padding − pb − pa</c>. Gradients from <see cref="ConvTranspose"/>.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public class ConvTransposeNd<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ConvOptions? _options;
    private Tensor<T>? _x, _y, _dx;

    /// <summary>Creates the layer with Kaiming-normal weights (fan-in of the stored layout) and a zero bias.</summary>
    public ConvTransposeNd(int inChannels, int outChannels, int[] kernel, ConvGeometry geometry, Random rng, bool bias = true, ConvOptions? options = null)
    {
        ConvNd<T>.CheckArguments(inChannels, outChannels, kernel, geometry);
        Geometry = geometry;
        _options = options;
        Weight = new Parameter<T>("weight", Tensor<T>.Zeros([inChannels, outChannels / geometry.Groups, .. kernel]));
        Init.KaimingNormal(Weight.Value, rng);
        Bias = bias ? new Parameter<T>("bias", Tensor<T>.Zeros(outChannels)) : null;
    }

    /// <summary>Stride, padding, dilation, output padding and groups.</summary>
    public ConvGeometry Geometry { get; }

    /// <summary>The weight <c>[C_in, C_out/groups, k...]</c>.</summary>
    public Parameter<T> Weight { get; }

    /// <summary>The bias <c>[C_out]</c>, or null.</summary>
    public Parameter<T>? Bias { get; }

    /// <inheritdoc />
    public override IEnumerable<Parameter<T>> Parameters() => Bias is null ? [Weight] : [Weight, Bias];

    /// <inheritdoc />
    public override Tensor<T> Forward(Tensor<T> x)
    {
        CheckInput(x, Geometry.Dims + 2, "ConvTranspose", "[N, C_in, spatial...]", Weight.Value.Dim(0));
        var y = Reuse(ref _y, ConvProblem.ForTranspose(Geometry, x.Shape, Weight.Value.Shape).TransposeOutputShape, x);
        ConvTranspose.Forward(x, Weight.Value, Bias?.Value, Geometry, y, _options);
        _x = x;
        return y;
    }

    /// <inheritdoc />
    public override Tensor<T>? Backward(Tensor<T> dy)
    {
        var x = Cached(_x, "ConvTranspose");
        ConvTranspose.BackwardWeight(x, dy, Geometry, Weight.Grad, _options);
        if (Bias is not null)
        {
            ConvNd<T>.BiasGradient(dy, Bias.Grad);
        }
        if (!ComputeInputGradient)
        {
            return null;
        }
        var dx = Reuse(ref _dx, x.Shape, dy);
        ConvTranspose.BackwardData(dy, Weight.Value, Geometry, dx, _options);
        return dx;
    }
}

/// <summary>2-D transposed convolution (<c>nn.ConvTranspose2d</c>): weight <c>[C_in, C_out/groups, kh, kw]</c>.</summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class ConvTranspose2d<T>(int inChannels, int outChannels, int kernel, ConvGeometry geometry, Random rng, bool bias = true, ConvOptions? options = null)
    : ConvTransposeNd<T>(inChannels, outChannels, [kernel, kernel], geometry, rng, bias, options) where T : unmanaged, IFloatingPointIeee754<T>;
