using ConvGrad.Cpu;
using ConvGrad.Cpu.Blocked;

namespace ConvGrad;

/// <summary>
/// One convolution layer planned once for channel-blocked activations, as oneDNN's primitive or XNNPACK's operator: the
/// engine's planner chooses each pass's kernel for <see cref="ConvLayout.Blocked"/> (<see cref="Plan"/>),
/// <see cref="SetWeights"/> reblocks the weights once, and every pass then runs that plan with no reblocking and no
/// allocation. This is how <c>convgrad bench</c> times the blocked layout (reorders outside the timing, as oneDNN is
/// timed). Not thread-safe: one call at a time.
/// </summary>
public sealed class ConvPrimitive
{
    private readonly BlockedConvPlan _kernels;
    private readonly ConvOptions _options;
    private readonly int _threads;

    /// <summary>Plans the layer of input <paramref name="inputShape"/> <c>[N, C, spatial...]</c> and weight <paramref name="weightShape"/> <c>[K, C/groups, kernel...]</c>.</summary>
    /// <param name="geometry">Stride, padding, dilation and groups.</param>
    /// <param name="inputShape">The logical input shape.</param>
    /// <param name="weightShape">The weight shape.</param>
    /// <param name="options">Fast CPU engine on AVX-512 or AVX2 (the ISA cap) and threads; <see cref="ConvOptions.Default"/> when null.</param>
    /// <exception cref="ArgumentException">Invalid shapes, options without blocked kernels (another engine, a device, the portable tier), or a grouping the blocked kernels do not cover (<see cref="Supports"/>).</exception>
    public ConvPrimitive(ConvGeometry geometry, ReadOnlySpan<int> inputShape, ReadOnlySpan<int> weightShape, ConvOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(geometry);
        _options = options ?? ConvOptions.Default;
        Problem = ConvProblem.ForConv(geometry, inputShape, weightShape);
        if (!Supports(Problem, _options))
        {
            throw new ArgumentException(
                $"no blocked kernels for this layer with these options (engine {_options.Engine}, tier {_options.EffectiveIsa}, groups {Problem.Groups} of {Problem.Cg} input and {Problem.Kg} output channels)",
                nameof(options));
        }
        BlockSize = ConvPlanner.BlockSize(_options);
        _threads = _options.EffectiveThreads;
        _kernels = new BlockedConvPlan(Problem, BlockSize);
    }

    /// <summary>The resolved problem.</summary>
    public ConvProblem Problem { get; }

    /// <summary>The channel block of the activations (16 on AVX-512, 8 on AVX2).</summary>
    public int BlockSize { get; }

    /// <summary>The channel block of the blocked kernels with <paramref name="options"/> (16 on AVX-512, 8 on AVX2), or 0 when they have none (another engine, a device, the portable tier).</summary>
    /// <param name="options">The options; <see cref="ConvOptions.Default"/> when null.</param>
    /// <returns>The block, or 0.</returns>
    public static int BlockSizeFor(ConvOptions? options) => ConvPlanner.BlockSize(options);

    /// <summary>Whether <paramref name="problem"/> runs on the blocked kernels with <paramref name="options"/> (what the constructor needs).</summary>
    /// <param name="problem">The resolved problem.</param>
    /// <param name="options">The options; <see cref="ConvOptions.Default"/> when null.</param>
    /// <returns>True when a primitive can be made.</returns>
    public static bool Supports(ConvProblem problem, ConvOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var o = options ?? ConvOptions.Default;
        return o.Engine == ConvEngine.Fast && o.Backend is null && ConvPlanInfo.Create(problem, ConvPass.Forward, ConvLayout.Blocked, o).RunsInLayout;
    }

    /// <summary>The planner's plan of <paramref name="pass"/> (its kernel, tier, workspace and description).</summary>
    /// <param name="pass">The pass.</param>
    /// <returns>The plan as <c>bench</c> prints it.</returns>
    public ConvPlanInfo Plan(ConvPass pass) => ConvPlanInfo.Create(Problem, pass, ConvLayout.Blocked, _options);

    /// <summary>Reblocks the weight <c>[K, C/G, k...]</c> and the optional bias <c>[K]</c> for the passes that need them.</summary>
    /// <param name="w">The weight.</param>
    /// <param name="b">The bias, or null.</param>
    public void SetWeights(Tensor<float> w, Tensor<float>? b = null)
    {
        ArgumentNullException.ThrowIfNull(w);
        _kernels.SetWeights(w.ReadOnlySpan, b is null ? default : b.ReadOnlySpan);
        if (_kernels.ReadsNchw)
        {
            _kernels.ReblockFlat(w.ReadOnlySpan, b is null ? default : b.ReadOnlySpan);
        }
    }

    /// <summary>y = x ⋆ w + b on blocked tensors of <see cref="BlockSize"/>.</summary>
    /// <param name="x">The input.</param>
    /// <param name="y">The output, overwritten.</param>
    public void Forward(BlockedTensor x, BlockedTensor y) => _kernels.Forward(x, y, _threads);

    /// <summary>
    /// y = x ⋆ w + b from a plain NCHW <paramref name="x"/> (a first layer, whose plan reads its input as NCHW:
    /// <see cref="ConvPlanInfo.ReadsNchwInput"/>) into blocked <paramref name="y"/>.
    /// </summary>
    /// <param name="x">The NCHW input.</param>
    /// <param name="y">The blocked output, overwritten.</param>
    /// <exception cref="ArgumentException">The forward plan does not read its input as NCHW.</exception>
    public void Forward(Tensor<float> x, BlockedTensor y)
    {
        ArgumentNullException.ThrowIfNull(x);
        RequireNchwInput(ConvPass.Forward, nameof(x));
        _kernels.ForwardFromNchw(x.ReadOnlySpan, y, _threads);
    }

    /// <summary>dx = ∂L/∂x on blocked tensors.</summary>
    /// <param name="dy">The output gradient.</param>
    /// <param name="dx">The input gradient, overwritten.</param>
    public void BackwardData(BlockedTensor dy, BlockedTensor dx) => _kernels.BackwardData(dy, dx, _threads);

    /// <summary>dw = ∂L/∂w from blocked tensors; bitwise the same for any thread count.</summary>
    /// <param name="x">The input.</param>
    /// <param name="dy">The output gradient.</param>
    /// <param name="dw">The weight gradient <c>[K, C/G, k...]</c>, overwritten.</param>
    public void BackwardWeight(BlockedTensor x, BlockedTensor dy, Tensor<float> dw)
    {
        ArgumentNullException.ThrowIfNull(dw);
        _kernels.BackwardWeight(x, dy, dw.Span, _threads);
    }

    /// <summary>dw = ∂L/∂w from a plain NCHW <paramref name="x"/> (a first layer: <see cref="ConvPlanInfo.ReadsNchwInput"/>) and blocked dy.</summary>
    /// <param name="x">The NCHW input.</param>
    /// <param name="dy">The blocked output gradient.</param>
    /// <param name="dw">The weight gradient <c>[K, C/G, k...]</c>, overwritten.</param>
    /// <exception cref="ArgumentException">The dW plan does not read its input as NCHW.</exception>
    public void BackwardWeight(Tensor<float> x, BlockedTensor dy, Tensor<float> dw)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(dw);
        RequireNchwInput(ConvPass.BackwardWeight, nameof(x));
        _kernels.BackwardWeightFromNchw(x.ReadOnlySpan, dy, dw.Span, _threads);
    }

    private void RequireNchwInput(ConvPass pass, string name)
    {
        if (!Plan(pass).ReadsNchwInput)
        {
            throw new ArgumentException($"the {pass} plan of this layer reads x in the blocked layout ({Plan(pass).Kernel}); pass a BlockedTensor", name);
        }
    }
}
