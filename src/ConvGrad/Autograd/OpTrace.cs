using ConvGrad.Cpu.Pooling;
using System.Numerics;

namespace ConvGrad.Autograd;

/// <summary>The differentiable operations a trace names (what an exporter must translate).</summary>
internal enum TracedOpKind
{
    /// <summary>Convolution; attributes: <see cref="ConvGeometry"/>; inputs x, w, b?.</summary>
    Conv,

    /// <summary>Transposed convolution; attributes: <see cref="ConvGeometry"/>; inputs x, w, b?.</summary>
    ConvTranspose,

    /// <summary>Batch normalisation; attributes: <see cref="TracedBatchNorm{T}"/>; inputs x, γ, β.</summary>
    BatchNorm,

    /// <summary>max(x, 0).</summary>
    Relu,

    /// <summary>Dropout; attributes: the probability (double); the output may be the input itself (evaluation).</summary>
    Dropout,

    /// <summary>a + b.</summary>
    Add,

    /// <summary>a − b.</summary>
    Sub,

    /// <summary>a · b.</summary>
    Mul,

    /// <summary>2-D max pooling; attributes: <see cref="PoolWindow"/>.</summary>
    MaxPool,

    /// <summary>2-D average pooling (padding counted); attributes: <see cref="PoolWindow"/>.</summary>
    AvgPool,

    /// <summary>Global average pooling to <c>[N, C, 1, ...]</c>.</summary>
    GlobalAvgPool,

    /// <summary>Reshape; attributes: the new shape (int[]).</summary>
    Reshape,

    /// <summary><c>[N, ...] → [N, Π ...]</c>.</summary>
    Flatten,

    /// <summary>Concatenation along the channel axis; any number of inputs.</summary>
    Concat,

    /// <summary><c>x·Wᵀ + b</c>; inputs x, W, b?.</summary>
    Linear,

    /// <summary>A change of memory layout only (NCHW ↔ channel-blocked): the same logical values.</summary>
    Layout,
}

/// <summary>The attributes of a traced batch normalisation.</summary>
/// <typeparam name="T">The element type.</typeparam>
/// <param name="RunningMean">The running mean used in evaluation (null when batch statistics were used).</param>
/// <param name="RunningVar">The running variance used in evaluation.</param>
/// <param name="Training">Whether batch statistics were used.</param>
/// <param name="Eps">ε added to the variance.</param>
internal sealed record TracedBatchNorm<T>(Tensor<T>? RunningMean, Tensor<T>? RunningVar, bool Training, double Eps)
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>One operation of a trace: its kind, its output, its inputs (variables; absent optional inputs are null) and attributes.</summary>
/// <param name="Kind">What the operation computes.</param>
/// <param name="Output">The result (a <see cref="Variable{T}"/>).</param>
/// <param name="Inputs">The operands in the operation's order (each a <see cref="Variable{T}"/> or null).</param>
/// <param name="Attributes">The operation's settings (see <see cref="TracedOpKind"/>), or null.</param>
internal sealed record TracedOp(TracedOpKind Kind, object Output, object?[] Inputs, object? Attributes);

/// <summary>
/// Records, on this thread, every differentiable operation that <see cref="Functional"/> runs while a trace is open, in
/// the order they run: what <c>torch.jit.trace</c> does for <c>torch.onnx.export</c>. An exporter runs a model's
/// <c>Forward</c> (any C#: branches, residual sums, concatenations) inside <see cref="Begin"/> and translates the ops.
/// An operation that calls others (flatten calls reshape) is recorded after them with the same output, so the last
/// record of an output describes it; the ones before it are dead. Costs one thread-static read per operation when no
/// trace is open. In <see cref="AnomalyMode"/> every recorded output is also checked for NaN and ±∞.
/// </summary>
internal sealed class OpTrace : IDisposable
{
    [ThreadStatic] private static OpTrace? t_current;

    private readonly OpTrace? _outer;
    private readonly List<TracedOp> _ops = [];

    private OpTrace(OpTrace? outer) => _outer = outer;

    /// <summary>Opens a trace on this thread (nested traces see only their own operations) until disposed.</summary>
    public static OpTrace Begin() => t_current = new OpTrace(t_current);

    /// <summary>Whether a trace is open on this thread (fused operations then run as the operations an exporter knows).</summary>
    public static bool IsOpen => t_current is not null;

    /// <summary>The operations recorded so far, in the order they ran.</summary>
    public IReadOnlyList<TracedOp> Ops => _ops;

    /// <summary>Closes the trace.</summary>
    public void Dispose()
    {
        if (t_current == this)
        {
            t_current = _outer;
        }
    }

    /// <summary>Records <paramref name="y"/> = <paramref name="kind"/>(inputs) when a trace is open; returns <paramref name="y"/>.</summary>
    public static Variable<T> Record<T, TAttributes>(Variable<T> y, TracedOpKind kind, TAttributes attributes, Variable<T>? a, Variable<T>? b = null, Variable<T>? c = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (t_current is { } trace)
        {
            trace._ops.Add(new TracedOp(kind, y, b is null && c is null ? [a] : c is null ? [a, b] : [a, b, c], attributes));
        }
        if (AnomalyMode.IsEnabled)
        {
            AnomalyMode.CheckForward(y, kind.ToString());
        }
        return y;
    }

    /// <summary>Records an operation with any number of inputs (concatenation).</summary>
    public static Variable<T> Record<T>(Variable<T> y, TracedOpKind kind, Variable<T>[] inputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        t_current?._ops.Add(new TracedOp(kind, y, [.. inputs], null));
        if (AnomalyMode.IsEnabled)
        {
            AnomalyMode.CheckForward(y, kind.ToString());
        }
        return y;
    }
}
