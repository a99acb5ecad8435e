using System.Numerics;
using System.Numerics.Tensors;

namespace ConvGrad.Autograd;

/// <summary>
/// A tensor that takes part in reverse-mode automatic differentiation, in the style of PyTorch's eager mode.
/// An operation on variables that require gradients records a <see cref="Node{T}"/> (its backward function) on the
/// tape; <see cref="Backward()"/> on a scalar walks the tape in reverse and adds <c>∂L/∂v</c> into <see cref="Grad"/>
/// of every leaf <c>v</c> that requires gradients.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Gradients accumulate: a second backward pass adds to <see cref="Grad"/> until <see cref="ZeroGrad"/>.</item>
/// <item>A variable used twice receives the sum of both gradients.</item>
/// <item>Inside <see cref="GradMode.NoGrad"/> nothing is recorded.</item>
/// <item>Only leaves keep a gradient; the graph's buffers are released by the backward pass (a second
/// <see cref="Backward()"/> through the same graph throws, as in PyTorch without <c>retain_graph</c>).</item>
/// </list>
/// </remarks>
/// <typeparam name="T">float for training; double for gradient checks.</typeparam>
public class Variable<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Wraps <paramref name="value"/> (not copied) as a leaf.</summary>
    /// <param name="value">The tensor.</param>
    /// <param name="requiresGrad">Whether backward passes compute <c>∂L/∂value</c> into <see cref="Grad"/>.</param>
    public Variable(Tensor<T> value, bool requiresGrad = false)
    {
        ArgumentNullException.ThrowIfNull(value);
        Value = value;
        RequiresGrad = requiresGrad;
    }

    /// <summary>The result of <paramref name="node"/> (an interior variable of the graph).</summary>
    internal Variable(Tensor<T> value, Node<T> node)
    {
        Value = value;
        GradFn = node;
        RequiresGrad = true;
    }

    /// <summary>The values.</summary>
    public Tensor<T> Value { get; }

    /// <summary>The logical shape of <see cref="Value"/> (<c>[N, C, spatial...]</c> whatever its <see cref="Format"/>).</summary>
    public ReadOnlySpan<int> Shape => Value.Shape;

    /// <summary>The shape of <see cref="Value"/>'s storage (<c>[N, ⌈C/B⌉, spatial..., B]</c> for a channel-blocked value).</summary>
    public ReadOnlySpan<int> StorageShape => Value.StorageShape;

    /// <summary>
    /// How <see cref="Value"/> is laid out in memory. Layers that chain convolutions keep float activations channel-blocked
    /// and convert only at the network's edges (<see cref="Functional.ToFormat{T}"/>); an operation that has no blocked
    /// kernel computes on its inputs converted to NCHW.
    /// </summary>
    public MemoryFormat Format => Value.Format;

    /// <summary>Whether <see cref="Format"/> is one of the channel-blocked formats.</summary>
    public bool IsChannelBlocked => Value.Format.IsBlocked();

    /// <summary>
    /// Threads the element-wise passes on a blocked activation (reorders, batch norm) may use: the thread count of the
    /// layer that made it (its <see cref="ConvOptions.EffectiveThreads"/>), so <c>--threads 1</c> means one thread
    /// throughout; 0 means one per processor.
    /// </summary>
    internal int Threads { get; init; }

    /// <summary>Whether gradients flow to (a leaf) or through (an interior variable) this variable.</summary>
    public bool RequiresGrad { get; }

    /// <summary>Whether this variable was made by the user rather than by a recorded operation.</summary>
    public bool IsLeaf => GradFn is null;

    /// <summary>The recorded operation that produced this variable (null for leaves).</summary>
    public Node<T>? GradFn { get; }

    /// <summary>
    /// The accumulated <c>∂L/∂Value</c> of a leaf that requires gradients; null until a backward pass reaches it and
    /// again after <see cref="ZeroGrad"/>. May be assigned (e.g. by tests or gradient clipping) with a tensor of the same shape.
    /// </summary>
    public Tensor<T>? Grad
    {
        get => _grad;
        set
        {
            if (value is not null && (!value.Shape.SequenceEqual(Value.Shape) || value.Format != Value.Format))
            {
                throw new ArgumentException($"a gradient must have the value's shape and format {MemoryFormats.Describe(Value.Format, Value.Shape)}; got {MemoryFormats.Describe(value.Format, value.Shape)}", nameof(value));
            }
            _grad = value;
        }
    }

    private Tensor<T>? _grad, _spare;

    /// <summary>
    /// Clears the gradient (PyTorch's <c>zero_grad(set_to_none=True)</c>): the next backward pass starts it afresh.
    /// The old buffer is kept and reused by that pass, so a reference to the old <see cref="Grad"/> sees it overwritten.
    /// </summary>
    public void ZeroGrad()
    {
        _spare = _grad ?? _spare;
        _grad = null;
    }

    /// <summary>
    /// Registers <paramref name="hook"/> to be called with this leaf once per backward pass, as soon as its gradient
    /// for that pass is final — after the last recorded operation that uses it has added its share, while the rest of
    /// the backward pass is still to run (PyTorch's <c>register_post_accumulate_grad_hook</c>). A leaf used several
    /// times fires once, after its last contribution. Hooks fire in a fixed order (the reverse recording order of the
    /// operations, then input order), the same in every run of the same graph. A leaf the backward pass reaches only
    /// through operations that received no gradient still fires, with <see cref="Grad"/> as it then is (possibly null).
    /// Data-parallel training uses it to start a gradient's all-reduce while backward goes on.
    /// </summary>
    /// <param name="hook">Called with this variable; it may read and modify <see cref="Grad"/>.</param>
    /// <returns>A handle whose <see cref="IDisposable.Dispose"/> removes the hook.</returns>
    /// <exception cref="InvalidOperationException">The variable is not a leaf that requires gradients.</exception>
    public IDisposable RegisterPostAccumulateGradHook(Action<Variable<T>> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        if (!IsLeaf || !RequiresGrad)
        {
            throw new InvalidOperationException($"post-accumulate-grad hooks need a leaf that requires gradients; this is {this}");
        }
        (_postAccumulateGradHooks ??= []).Add(hook);
        return new HookHandle(this, hook);
    }

    private List<Action<Variable<T>>>? _postAccumulateGradHooks;

    /// <summary>Whether a backward pass must call <see cref="RunPostAccumulateGradHooks"/> for this leaf.</summary>
    internal bool HasPostAccumulateGradHooks => _postAccumulateGradHooks is { Count: > 0 };

    /// <summary>Calls the hooks, in registration order (the tape calls this once the leaf's gradient is final).</summary>
    internal void RunPostAccumulateGradHooks()
    {
        var hooks = _postAccumulateGradHooks;
        if (hooks is null)
        {
            return;
        }
        for (int i = 0; i < hooks.Count; i++)
        {
            hooks[i](this);
        }
    }

    private sealed class HookHandle(Variable<T> owner, Action<Variable<T>> hook) : IDisposable
    {
        private bool _removed;

        public void Dispose()
        {
            if (!_removed)
            {
                _removed = true;
                owner._postAccumulateGradHooks?.Remove(hook);
            }
        }
    }

    /// <summary>A leaf sharing this variable's values that records nothing (PyTorch's <c>detach</c>).</summary>
    public Variable<T> Detach() => new(Value);

    /// <summary>The single value of a one-element variable, as float64.</summary>
    public double Item()
    {
        if (Value.Length != 1)
        {
            throw new InvalidOperationException($"Item() needs a one-element variable; this one has shape {Shapes.Format(Value.Shape)}");
        }
        return double.CreateChecked(Value.ReadOnlySpan[0]);
    }

    /// <summary>Back-propagates from this one-element variable (seed 1): <c>loss.Backward()</c>.</summary>
    /// <exception cref="InvalidOperationException">The variable has more than one element or does not require gradients.</exception>
    public void Backward()
    {
        if (Value.Length != 1)
        {
            throw new InvalidOperationException($"Backward() without a gradient needs a one-element variable; this one has shape {Shapes.Format(Value.Shape)} (pass the upstream gradient)");
        }
        var seed = Tensor<T>.Uninitialized(Value.Shape);
        seed.Span[0] = T.One;
        Backward(seed);
    }

    /// <summary>Back-propagates <paramref name="gradient"/> = <c>∂L/∂this</c> (a vector-Jacobian product).</summary>
    /// <param name="gradient">∂L/∂this, of this variable's logical shape in any format (the seed of backpropagation).</param>
    public void Backward(Tensor<T> gradient)
    {
        ArgumentNullException.ThrowIfNull(gradient);
        if (!gradient.Shape.SequenceEqual(Value.Shape))
        {
            throw new ArgumentException($"the gradient must have the variable's shape {Shapes.Format(Value.Shape)}; got {Shapes.Format(gradient.Shape)}", nameof(gradient));
        }
        gradient = gradient.ToFormat(Value.Format);
        if (!RequiresGrad)
        {
            throw new InvalidOperationException("this variable does not require gradients and has no recorded operation (was it computed under NoGrad, or from variables that need no gradient?)");
        }
        Tape<T>.Run(this, gradient);
    }

    /// <summary>
    /// Adds <paramref name="g"/> to the gradient flowing into this variable. <paramref name="owned"/> says that the caller
    /// hands the buffer over (it may be kept and added into); otherwise it is only read.
    /// </summary>
    internal void Accumulate(Tensor<T> g, bool owned)
    {
        if (g.Format != Value.Format)
        {
            // A gradient computed in another format (by an operation that converted its input) comes back to this one.
            var converted = ScopedTensors<T>.Rent(Value.Shape, Value.Format, clear: false);
            converted.CopyFrom(g, Threads);
            g = converted;
            owned = true;
        }
        if (GradFn is not null)
        {
            GradFn.AccumulateOutputGrad(g, owned, Threads);
            return;
        }
        if (!RequiresGrad)
        {
            return;
        }
        if (_grad is null)
        {
            if (_spare is not null)
            {
                g.ReadOnlySpan.CopyTo(_spare.Span);
                _grad = _spare;
                _spare = null;
            }
            else if (owned)
            {
                ScopedTensors<T>.Escape(g);
                _grad = g;
            }
            else
            {
                _grad = g.Clone();
            }
        }
        else
        {
            TensorPrimitives.Add(_grad.ReadOnlySpan, g.ReadOnlySpan, _grad.Span);
        }
    }

    /// <summary><c>a + b</c> (<see cref="Functional.Add{T}"/>).</summary>
    /// <param name="a">The left operand.</param>
    /// <param name="b">The right operand (same shape as <paramref name="a"/>).</param>
    public static Variable<T> operator +(Variable<T> a, Variable<T> b) => Functional.Add(a, b);

    /// <summary><c>a − b</c> (<see cref="Functional.Sub{T}"/>).</summary>
    /// <param name="a">The left operand.</param>
    /// <param name="b">The right operand (same shape as <paramref name="a"/>).</param>
    public static Variable<T> operator -(Variable<T> a, Variable<T> b) => Functional.Sub(a, b);

    /// <summary>Element-wise <c>a · b</c> (<see cref="Functional.Mul{T}"/>).</summary>
    /// <param name="a">The left operand.</param>
    /// <param name="b">The right operand (same shape as <paramref name="a"/>).</param>
    public static Variable<T> operator *(Variable<T> a, Variable<T> b) => Functional.Mul(a, b);

    /// <inheritdoc />
    public override string ToString() =>
        $"Variable<{typeof(T).Name}>{Shapes.Format(Value.Shape)}{(GradFn is null ? RequiresGrad ? " (leaf, requires grad)" : "" : $" ({GradFn.Name})")}";
}
