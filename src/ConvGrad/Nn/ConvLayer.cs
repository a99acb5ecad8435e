using System.Numerics;
using ConvGrad.Autograd;
using ConvGrad.Cpu;
using ConvGrad.Cpu.Blocked;

namespace ConvGrad.Nn;

/// <summary>
/// Convolution layer (PyTorch <c>nn.Conv1d/2d/3d</c>): <c>y = x ⋆ w + b</c> through <see cref="Functional.Conv{T}"/>, so
/// the forward pass and both gradients run on the engine.
/// Shapes: x <c>[N, C, in...]</c>, weight <c>[K, C/groups, k...]</c>, bias <c>[K]</c>, y <c>[N, K, out...]</c>.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public class ConvNd<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ConvOptions? _options;

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
        Weight = RegisterParameter("weight", new Parameter<T>(Tensor<T>.Zeros([outChannels, inChannels / geometry.Groups, .. kernel])));
        Init.KaimingNormal(Weight.Value, rng);
        Bias = bias ? RegisterParameter("bias", new Parameter<T>(Tensor<T>.Zeros(outChannels))) : null;
    }

    /// <summary>Stride, padding, dilation and groups.</summary>
    public ConvGeometry Geometry { get; }

    /// <inheritdoc />
    protected override string ExtraRepr()
    {
        static string Tuple(IEnumerable<int> v) => "(" + string.Join(", ", v) + ")";
        var w = Weight.Value.Shape.ToArray();
        var parts = new List<string> { $"{w[1] * Geometry.Groups}, {w[0]}", $"kernel_size={Tuple(w[2..])}", $"stride={Tuple(Geometry.Stride)}" };
        if (Geometry.PaddingBefore.Any(p => p != 0) || Geometry.PaddingAfter.Any(p => p != 0))
        {
            parts.Add($"padding={Tuple(Geometry.PaddingBefore)}");
        }
        if (Geometry.Dilation.Any(d => d != 1))
        {
            parts.Add($"dilation={Tuple(Geometry.Dilation)}");
        }
        if (Geometry.Groups != 1)
        {
            parts.Add($"groups={Geometry.Groups}");
        }
        if (Bias is null)
        {
            parts.Add("bias=False");
        }
        return string.Join(", ", parts);
    }

    /// <summary>The weight <c>[K, C/groups, k...]</c>.</summary>
    public Parameter<T> Weight { get; }

    /// <summary>The bias <c>[K]</c>, or null.</summary>
    public Parameter<T>? Bias { get; }

    /// <summary>
    /// Whether the layer's float output stays in the channel-blocked layout (<see cref="Variable{T}.IsChannelBlocked"/>)
    /// for the layers after it, when the options' tier has blocked kernels (AVX-512 or AVX2, fast engine) and they cover
    /// the layer. An input that is already blocked always gives a blocked output. An NCHW input with at least half a block
    /// of input channels per group is reordered and convolved blocked; one with fewer (a first layer of 1-3 channels)
    /// is convolved in NCHW and its output reordered. Models that convert at their edges turn this on
    /// (<see cref="BlockedActivations.Keep{T}"/>); a bare layer keeps NCHW in and out.
    /// </summary>
    public bool KeepsActivationsBlocked { get; set; }

    /// <inheritdoc />
    public override Variable<T> Forward(Variable<T> x)
    {
        CheckInput(x, Geometry.Dims + 2, "Conv", "[N, C, spatial...]", Weight.Value.Dim(1) * Geometry.Groups);
        if (BlockedKernels.CoverType<T>() && (x.IsChannelBlocked || KeepsActivationsBlocked))
        {
            int block = ConvPlanner.BlockSize(_options);
            if (block != 0)
            {
                return ForwardBlocked(x, block);
            }
        }
        return Functional.Conv(Functional.ToNchw(x), Weight, Bias, Geometry, _options);
    }

    /// <summary>The blocked forward pass: the layout choice is a function of the shape, block and options only.</summary>
    private Variable<T> ForwardBlocked(Variable<T> x, int block)
    {
        var w = Weight;
        var b = Bias;
        var p = ConvProblem.ForConv(Geometry, x.Shape, w.Shape);
        int inputBlock = x.Format.IsBlocked() ? x.Format.BlockSize() : 0;
        if (inputBlock == 0 && ConvPlanner.TakesNchwInput(p) && ConvPlanner.RunsBlocked(p, block))
        {
            // A first layer (1-3 input channels): the planner's first-layer kernels read the NCHW input in place and
            // write y blocked (PlanLayout.NchwToBlocked), so neither pass reorders y or dY.
            return OpTrace.Record(Functional.ConvFromNchw(x, w, b, PlanCache.For(p, block), MemoryFormats.Blocked(block), Geometry, _options),
                TracedOpKind.Conv, Geometry, x, w, b);
        }
        if (ConvPlanner.LayerLayout(p, inputBlock, block) != PlanLayout.Blocked)
        {
            // Not covered, or mostly-padding lanes (a first layer of 1-3 channels): the NCHW plan, then reorder the output.
            return Functional.ToBlocked(Functional.Conv(Functional.ToNchw(x), w, b, Geometry, _options), block, Threads);
        }
        if (inputBlock != block)
        {
            x = Functional.ToBlocked(x, block, Threads);
        }
        return OpTrace.Record(Functional.ConvBlocked(x, w, b, PlanCache.For(p, block), Threads), TracedOpKind.Conv, Geometry, x, w, b);
    }

    private int Threads => (_options ?? ConvOptions.Default).EffectiveThreads;

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
}

/// <summary>1-D convolution (<c>nn.Conv1d</c>): x <c>[N, C, L]</c>, weight <c>[K, C/groups, k]</c>.</summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Conv1d<T>(int inChannels, int outChannels, int kernel, ConvGeometry geometry, Random rng, bool bias = true, ConvOptions? options = null)
    : ConvNd<T>(inChannels, outChannels, [kernel], geometry, rng, bias, options) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>2-D convolution (<c>nn.Conv2d</c>): x <c>[N, C, H, W]</c>, weight <c>[K, C/groups, kh, kw]</c>.</summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Conv2d<T>(int inChannels, int outChannels, int kernel, ConvGeometry geometry, Random rng, bool bias = true, ConvOptions? options = null)
    : ConvNd<T>(inChannels, outChannels, [kernel, kernel], geometry, rng, bias, options) where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// PyTorch's <c>nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True)</c>:
    /// the same square window, stride, padding and dilation on both axes; weights from <paramref name="rng"/>, or
    /// from <see cref="Init.Generator"/> when it is null.
    /// </summary>
    /// <param name="inChannels">C.</param>
    /// <param name="outChannels">K.</param>
    /// <param name="kernelSize">The window's height and width.</param>
    /// <param name="stride">The stride on both axes.</param>
    /// <param name="padding">Zero padding on every side.</param>
    /// <param name="dilation">The dilation on both axes.</param>
    /// <param name="groups">Channel groups.</param>
    /// <param name="bias">Whether the layer has a bias.</param>
    /// <param name="rng">The generator of the initial weights, or null for <see cref="Init.Generator"/>.</param>
    /// <param name="options">Engine and threads for the passes.</param>
    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1, int groups = 1, bool bias = true,
        Random? rng = null, ConvOptions? options = null)
        : this(inChannels, outChannels, kernelSize, ConvGeometry.Uniform(2, stride, padding, dilation, groups), rng ?? Init.Generator, bias, options)
    {
    }
}

/// <summary>3-D convolution (<c>nn.Conv3d</c>): x <c>[N, C, D, H, W]</c>, weight <c>[K, C/groups, kd, kh, kw]</c>.</summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Conv3d<T>(int inChannels, int outChannels, int kernel, ConvGeometry geometry, Random rng, bool bias = true, ConvOptions? options = null)
    : ConvNd<T>(inChannels, outChannels, [kernel, kernel, kernel], geometry, rng, bias, options) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// Transposed convolution layer (<c>nn.ConvTranspose1d/2d/3d</c>) through <see cref="Functional.ConvTranspose{T}"/>.
/// Shapes: x <c>[N, C_in, in...]</c>, weight <c>[C_in, C_out/groups, k...]</c>, bias <c>[C_out]</c>, y <c>[N, C_out, out...]</c>
/// with <c>out = (in − 1)·s + d·(k − 1) + 1 + output_padding − pb − pa</c>.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public class ConvTransposeNd<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ConvOptions? _options;

    /// <summary>Creates the layer with Kaiming-normal weights (fan-in of the stored layout) and a zero bias.</summary>
    /// <param name="inChannels">Input channels C_in.</param>
    /// <param name="outChannels">Output channels C_out.</param>
    /// <param name="kernel">The kernel size on each spatial axis.</param>
    /// <param name="geometry">Stride, padding, dilation and groups.</param>
    /// <param name="rng">The random source of the initial weights.</param>
    /// <param name="bias">Whether the layer has a bias.</param>
    /// <param name="options">Engine and thread settings; null means <see cref="ConvOptions.Default"/>.</param>
    public ConvTransposeNd(int inChannels, int outChannels, int[] kernel, ConvGeometry geometry, Random rng, bool bias = true, ConvOptions? options = null)
    {
        ConvNd<T>.CheckArguments(inChannels, outChannels, kernel, geometry);
        Geometry = geometry;
        _options = options;
        Weight = RegisterParameter("weight", new Parameter<T>(Tensor<T>.Zeros([inChannels, outChannels / geometry.Groups, .. kernel])));
        Init.KaimingNormal(Weight.Value, rng);
        Bias = bias ? RegisterParameter("bias", new Parameter<T>(Tensor<T>.Zeros(outChannels))) : null;
    }

    /// <summary>Stride, padding, dilation, output padding and groups.</summary>
    public ConvGeometry Geometry { get; }

    /// <summary>The weight <c>[C_in, C_out/groups, k...]</c>.</summary>
    public Parameter<T> Weight { get; }

    /// <summary>The bias <c>[C_out]</c>, or null.</summary>
    public Parameter<T>? Bias { get; }

    /// <inheritdoc />
    public override Variable<T> Forward(Variable<T> x)
    {
        CheckInput(x, Geometry.Dims + 2, "ConvTranspose", "[N, C_in, spatial...]", Weight.Value.Dim(0));
        return Functional.ConvTranspose(x, Weight, Bias, Geometry, _options);
    }
}

/// <summary>2-D transposed convolution (<c>nn.ConvTranspose2d</c>): weight <c>[C_in, C_out/groups, kh, kw]</c>.</summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class ConvTranspose2d<T>(int inChannels, int outChannels, int kernel, ConvGeometry geometry, Random rng, bool bias = true, ConvOptions? options = null)
    : ConvTransposeNd<T>(inChannels, outChannels, [kernel, kernel], geometry, rng, bias, options) where T : unmanaged, IFloatingPointIeee754<T>;
