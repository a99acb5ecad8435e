using System.Globalization;
using ConvGrad.Cpu;

namespace ConvGrad;

/// <summary>The memory layout of the activations a pass is planned for, as <c>convgrad bench</c> names it (<see cref="ConvPlanInfo.LayoutName"/>).</summary>
public enum ConvLayout
{
    /// <summary><c>nchw</c>: plain NC[D]HW tensors, the public tensor API; any conversion a kernel needs happens inside the call.</summary>
    Nchw,

    /// <summary>
    /// <c>blocked</c>: channel-blocked activations (<see cref="BlockedTensor"/>, 16 channels per block on AVX-512, 8 on
    /// AVX2) as a network that keeps them blocked runs the layer; a first layer of 1-3 input channels reads its input as
    /// plain NCHW for its forward pass and weight gradient.
    /// </summary>
    Blocked,
}

/// <summary>
/// What the fast CPU engine's planner chose for one pass of one problem: the kernel's name, its instruction-set tier, the
/// layout, the workspace and the planner's own description, in the words <c>convgrad bench</c> prints and
/// <c>convgrad explain</c> shows. Made by <see cref="Create"/>; the engine runs exactly this plan for the same problem,
/// pass, options and layout.
/// </summary>
public sealed class ConvPlanInfo
{
    private ConvPlanInfo(ConvPass pass, ConvLayout layout, string isa, string kernel, long workspaceBytes, string description, bool runsInLayout, bool readsNchwInput)
    {
        ReadsNchwInput = readsNchwInput;
        Pass = pass;
        Layout = layout;
        Isa = isa;
        Kernel = kernel;
        WorkspaceBytes = workspaceBytes;
        Description = description;
        RunsInLayout = runsInLayout;
    }

    /// <summary>The pass.</summary>
    public ConvPass Pass { get; }

    /// <summary>The pass as <c>bench</c> names it: <c>fwd</c>, <c>dx</c> or <c>dw</c>.</summary>
    public string PassName => Pass switch
    {
        ConvPass.Forward => "fwd",
        ConvPass.BackwardData => "dx",
        _ => "dw",
    };

    /// <summary>The layout planned for.</summary>
    public ConvLayout Layout { get; }

    /// <summary>The layout as <c>bench</c> names it: <c>nchw</c> or <c>blocked</c>.</summary>
    public string LayoutName => Layout == ConvLayout.Nchw ? "nchw" : "blocked";

    /// <summary>The instruction-set tier the kernel runs on: <c>avx512</c>, <c>avx2</c> or <c>portable</c>.</summary>
    public string Isa { get; }

    /// <summary>The kernel's name, e.g. <c>gemm12x32 avx512</c> or <c>direct-blocked16 avx512 14x2</c>.</summary>
    public string Kernel { get; }

    /// <summary>The scratch memory (bytes) one call uses (in the blocked layout, besides the activations themselves).</summary>
    public long WorkspaceBytes { get; }

    /// <summary>The workspace as <c>bench</c>'s table prints it (<c>512 B</c>, <c>1.5 KiB</c>, <c>2.0 MiB</c>).</summary>
    public string Workspace => FormatBytes(WorkspaceBytes);

    /// <summary>The planner's paragraph on the kernel and why it was chosen, ending with <c>Kernel: NAME.</c></summary>
    public string Description { get; }

    /// <summary>
    /// Whether the kernel computes in <see cref="Layout"/> itself: false for blocked tensors whose grouping the blocked
    /// kernels do not cover (or a tier without them), which are converted to NCHW around the NCHW kernel named here.
    /// </summary>
    public bool RunsInLayout { get; }

    /// <summary>
    /// Whether the kernel reads x as plain NCHW although the layout is <see cref="ConvLayout.Blocked"/>: a first layer's
    /// forward pass and weight gradient, whose 1-3 input channels would be mostly zero lanes blocked.
    /// </summary>
    public bool ReadsNchwInput { get; }

    /// <summary>Asks the fast CPU engine's planner for <paramref name="pass"/> of <paramref name="problem"/>.</summary>
    /// <param name="problem">The resolved problem (<see cref="ConvProblem.ForConv"/>).</param>
    /// <param name="pass">The pass.</param>
    /// <param name="layout">The activations' layout.</param>
    /// <param name="options">The ISA cap and threads; <see cref="ConvOptions.Default"/> when null. Must select the fast CPU engine.</param>
    /// <returns>The plan's description.</returns>
    /// <exception cref="ArgumentException">The options select another engine or a device backend.</exception>
    public static ConvPlanInfo Create(ConvProblem problem, ConvPass pass, ConvLayout layout = ConvLayout.Nchw, ConvOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var o = options ?? ConvOptions.Default;
        if (o.Engine != ConvEngine.Fast || o.Backend is not null)
        {
            throw new ArgumentException($"plans describe the fast CPU engine; these options select {(o.Backend is not null ? o.Backend.GetType().Name : o.Engine.ToString())}", nameof(options));
        }
        var tier = IsaTiers.Resolve(o.MaxIsa);
        var planLayout = layout == ConvLayout.Nchw ? PlanLayout.Nchw
            : pass != ConvPass.BackwardData && ConvPlanner.TakesNchwInput(problem) ? PlanLayout.NchwToBlocked
            : PlanLayout.Blocked;
        var plan = ConvPlanner.Plan(problem, pass, tier, planLayout, o.EffectiveThreads);
        return new ConvPlanInfo(pass, layout, IsaTiers.Name(tier), plan.Name, plan.WorkspaceBytes, plan.Describe(), plan.Kernel != ConvKernel.ThroughNchw, plan.Kernel == ConvKernel.FirstLayer && layout == ConvLayout.Blocked);
    }

    /// <summary>Bytes as <c>bench</c>'s table prints them: <c>B</c> below 1 KiB, else <c>KiB</c> or <c>MiB</c> with one decimal.</summary>
    /// <param name="bytes">A byte count.</param>
    /// <returns>The text.</returns>
    public static string FormatBytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.0} MiB"),
    };

    /// <inheritdoc />
    public override string ToString() => $"{PassName} {LayoutName}: {Kernel} ({Isa}), workspace {Workspace}";
}
