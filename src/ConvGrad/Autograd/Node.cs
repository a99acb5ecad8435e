using System.Diagnostics;
using System.Numerics;
using ConvGrad.Cpu;

namespace ConvGrad.Autograd;

/// <summary>
/// One recorded operation: its inputs, what it saved for the backward pass, and the rule that turns the gradient of
/// its output into gradients of its inputs (a vector-Jacobian product). Nodes are numbered in the order they are
/// recorded; that order is the tape, and <see cref="Variable{T}.Backward()"/> walks it in reverse.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public abstract class Node<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static long s_recorded;
    private readonly Variable<T>[] _inputs;
    private Tensor<T>? _grad;
    private bool _gradOwned;
    private bool _forwarded;

    /// <summary>Records an operation on <paramref name="inputs"/>.</summary>
    /// <param name="inputs">The variables this node's output was computed from.</param>
    protected Node(params Variable<T>[] inputs)
    {
        _inputs = inputs;
        Sequence = Interlocked.Increment(ref s_recorded);
        ProfileKind = OpProfiler.Current;
    }

    /// <summary>The operation's name (PyTorch style, e.g. <c>ConvolutionBackward</c>).</summary>
    public abstract string Name { get; }

    /// <summary>The inputs of the operation, in order.</summary>
    public IReadOnlyList<Variable<T>> Inputs => _inputs;

    /// <summary>The position on the tape (larger = recorded later).</summary>
    internal long Sequence { get; }

    /// <summary>The operation that recorded this node, for a <see cref="Training.StepProfile"/> (<see cref="ProfiledOp.Other"/> while none is open).</summary>
    internal ProfiledOp ProfileKind { get; }

    /// <summary>Whether a backward pass has run this node and released what it saved.</summary>
    internal bool Released { get; private set; }

    /// <summary>Whether input <paramref name="i"/> needs a gradient.</summary>
    /// <param name="i">The input number, 0-based.</param>
    protected bool NeedsGrad(int i) => _inputs[i].RequiresGrad;

    /// <summary>
    /// Given <paramref name="dy"/> = <c>∂L/∂output</c> (read-only), passes <c>∂L/∂input</c> to every input that needs one
    /// with <see cref="Propagate"/>.
    /// </summary>
    /// <param name="dy">∂L/∂(this node's output).</param>
    protected abstract void Backward(Tensor<T> dy);

    /// <summary>Drops the tensors saved for the backward pass (called once the node has run).</summary>
    protected virtual void Release()
    {
    }

    /// <summary>
    /// Whether the gradient given to <see cref="Backward"/> is this node's alone (a buffer handed over to it, or the sum of
    /// several gradients): the rule may then overwrite it with an input's gradient and pass it on through
    /// <see cref="PropagateInPlace"/>, which saves a fresh buffer and the memory traffic of filling it. Meaningful only
    /// while <see cref="Backward"/> runs.
    /// </summary>
    private protected bool MayOverwriteGradient => _gradOwned;

    /// <summary>
    /// Hands the gradient given to <see cref="Backward"/>, overwritten by the rule with ∂L/∂(input <paramref name="i"/>),
    /// over to that input (only when <see cref="MayOverwriteGradient"/>); the node no longer recycles it.
    /// </summary>
    /// <param name="i">The input number, 0-based.</param>
    /// <param name="dy">The tensor <see cref="Backward"/> was given, now holding input <paramref name="i"/>'s gradient.</param>
    private protected void PropagateInPlace(int i, Tensor<T> dy)
    {
        Debug.Assert(_gradOwned, "only a gradient the node owns may be overwritten");
        Propagate(i, dy, owned: true);
        _forwarded = true;
    }

    /// <summary>
    /// Adds <paramref name="g"/> to input <paramref name="i"/>'s gradient; <paramref name="owned"/> hands the buffer over
    /// (a fresh tensor the node will not touch again) so it can be kept without a copy.
    /// </summary>
    /// <param name="i">The input number, 0-based.</param>
    /// <param name="g">∂L/∂(input <paramref name="i"/>).</param>
    /// <param name="owned">Whether <paramref name="g"/> is a buffer this node may hand over instead of copying.</param>
    protected void Propagate(int i, Tensor<T> g, bool owned)
    {
        if (AnomalyMode.IsEnabled)
        {
            AnomalyMode.CheckBackward(Name, i, g);
        }
        _forwarded |= !owned;
        _inputs[i].Accumulate(g, owned);
    }

    /// <summary>
    /// Adds <paramref name="g"/> to the gradient of this node's output; a second gradient is summed in on up to
    /// <paramref name="threads"/> threads (the output variable's), bitwise the same for any count.
    /// </summary>
    internal void AccumulateOutputGrad(Tensor<T> g, bool owned, int threads = 1)
    {
        if (Released)
        {
            throw new InvalidOperationException($"{Name}: trying to backward through the graph a second time; its saved tensors were released by the first backward pass");
        }
        if (_grad is null)
        {
            _grad = g;
            _gradOwned = owned;
        }
        else if (_gradOwned)
        {
            ElementwiseSum<T>.Add(_grad, g, _grad, threads);
        }
        else
        {
            var sum = ScopedTensors<T>.Rent(_grad.Shape, _grad.Format, clear: false);
            ElementwiseSum<T>.Add(_grad, g, sum, threads);
            _grad = sum;
            _gradOwned = true;
        }
    }

    /// <summary>
    /// Runs the backward rule on the accumulated output gradient (if any reached this node), then releases; returns the
    /// <see cref="Stopwatch"/> ticks spent in the rule itself (the kernels).
    /// </summary>
    internal long RunBackward()
    {
        if (Released)
        {
            throw new InvalidOperationException($"{Name}: trying to backward through the graph a second time; its saved tensors were released by the first backward pass");
        }
        var g = _grad;
        _grad = null;
        long ticks = 0;
        if (g is not null)
        {
            long t0 = Stopwatch.GetTimestamp();
            using (OpProfiler.Backward(ProfileKind))
            {
                Backward(g);
            }
            ticks = Stopwatch.GetTimestamp() - t0;
            if (_gradOwned && !_forwarded)
            {
                // Nobody else holds it: back to the pool now (a no-op outside a TensorScope).
                ScopedTensors<T>.Recycle(g);
            }
        }
        Released = true;
        Release();
        return ticks;
    }
}
