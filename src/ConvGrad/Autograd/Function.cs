using System.Numerics;

namespace ConvGrad.Autograd;

/// <summary>
/// A differentiable operation defined by its user, as PyTorch's <c>torch.autograd.Function</c>: override
/// <see cref="Forward"/> (the output from the input values, saving what the gradient needs with
/// <see cref="FunctionContext{T}.SaveForBackward"/>) and <see cref="Backward"/> (the gradient of every input from the
/// gradient of the output), then call <see cref="Apply"/> on variables. Both are written with the public tensor API
/// (<see cref="Tensor{T}"/>, <c>System.Numerics.Tensors.TensorPrimitives</c>).
/// </summary>
/// <remarks>
/// The operation goes through the same dispatcher as the library's own: unless <see cref="ComputesIn"/> accepts the
/// first input's format, every input reaches <see cref="Forward"/> converted to NCHW (a recorded reorder), whatever
/// layer made it (a convolution that keeps activations channel-blocked, say). Gradients returned for such an input are
/// reordered back by the recorded reorder. So a function that declares nothing is correct on any input; its output is
/// in the format of the tensor <see cref="Forward"/> returns.
/// </remarks>
/// <typeparam name="T">float or double.</typeparam>
public abstract class Function<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The name of the recorded node (<c>GradFn.Name</c>); by default the type's name and <c>Backward</c>.</summary>
    public virtual string Name => GetType().Name + "Backward";

    /// <summary>
    /// Whether <see cref="Forward"/> computes on inputs stored in <paramref name="format"/> (it then sees the values in
    /// that storage order, <see cref="Tensor{T}.Span"/>, and must return gradients in it). The default accepts only
    /// <see cref="MemoryFormat.Contiguous"/>: inputs in any other format are converted to NCHW first. An element-wise
    /// function may accept every format.
    /// </summary>
    /// <param name="format">The first input's format.</param>
    /// <returns>True to compute in that format.</returns>
    protected virtual bool ComputesIn(MemoryFormat format) => format == MemoryFormat.Contiguous;

    /// <summary>Computes the output from <paramref name="inputs"/> (the values of the variables passed to <see cref="Apply"/>, in order).</summary>
    /// <param name="context">Where to save tensors for <see cref="Backward"/>.</param>
    /// <param name="inputs">The input values (read them; do not write them).</param>
    /// <returns>A new tensor holding the output (not one of the inputs).</returns>
    protected abstract Tensor<T> Forward(FunctionContext<T> context, IReadOnlyList<Tensor<T>> inputs);

    /// <summary>
    /// The vector-Jacobian product: given <paramref name="outputGradient"/> = <c>∂L/∂output</c>, returns
    /// <c>∂L/∂input</c> for every input, in input order, each of that input's shape (null for an input that needs none:
    /// <see cref="FunctionContext{T}.NeedsInputGrad"/>).
    /// </summary>
    /// <param name="context">What <see cref="Forward"/> saved.</param>
    /// <param name="outputGradient">∂L/∂output, of the output's shape (read-only).</param>
    /// <returns>One gradient (or null) per input.</returns>
    protected abstract Tensor<T>?[] Backward(FunctionContext<T> context, Tensor<T> outputGradient);

    /// <summary>
    /// Runs the function on <paramref name="inputs"/>: converts them to a format it computes in, calls
    /// <see cref="Forward"/>, and, when gradients are being recorded and an input requires them, records a node whose
    /// backward pass calls <see cref="Backward"/>.
    /// </summary>
    /// <param name="inputs">The operands, at least one.</param>
    /// <returns>The output variable.</returns>
    /// <exception cref="ArgumentException">No inputs, or a null one.</exception>
    /// <exception cref="InvalidOperationException"><see cref="Forward"/> returned null or one of its inputs.</exception>
    public Variable<T> Apply(params Variable<T>[] inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Length == 0 || Array.IndexOf(inputs, null) >= 0)
        {
            throw new ArgumentException($"{GetType().Name}.Apply needs at least one input and no nulls", nameof(inputs));
        }
        using var profiled = OpProfiler.Time(ProfiledOp.Function);
        var xs = (Variable<T>[])inputs.Clone();
        var call = Dispatch.Prepare(ComputesIn(xs[0].Format) ? Computes.AnyFormat : Computes.Contiguous, xs);
        bool records = GradMode.IsEnabled && Array.Exists(xs, v => v.RequiresGrad);
        var context = new FunctionContext<T>(xs);
        var values = Array.ConvertAll(xs, v => v.Value);
        Tensor<T>? y;
        using (GradMode.NoGrad())
        {
            y = Forward(context, values);
        }
        if (y is null || Array.Exists(values, v => ReferenceEquals(v, y)))
        {
            throw new InvalidOperationException($"{GetType().Name}.Forward must return a new tensor, not null or one of its inputs");
        }
        return records ? call.Output(y, new FunctionNode(this, context, xs)) : call.Output(y);
    }

    /// <summary>The recorded call: runs <see cref="Backward"/> and hands each gradient to its input.</summary>
    private sealed class FunctionNode(Function<T> function, FunctionContext<T> context, Variable<T>[] inputs) : Node<T>(inputs)
    {
        public override string Name => function.Name;

        protected override void Backward(Tensor<T> dy)
        {
            var grads = function.Backward(context, dy);
            if (grads is null || grads.Length != Inputs.Count)
            {
                throw new InvalidOperationException($"{function.GetType().Name}.Backward must return one gradient (or null) per input: {Inputs.Count}");
            }
            for (int i = 0; i < grads.Length; i++)
            {
                if (grads[i] is not { } g || !NeedsGrad(i))
                {
                    continue;
                }
                if (!g.Shape.SequenceEqual(Inputs[i].Shape))
                {
                    throw new InvalidOperationException(
                        $"{function.GetType().Name}.Backward returned a gradient of shape {Shapes.Format(g.Shape)} for input {i} of shape {Shapes.Format(Inputs[i].Shape)}");
                }
                Propagate(i, g, owned: false);
            }
        }

        protected override void Release() => context.Release();
    }
}

/// <summary>
/// What one call of a <see cref="Function{T}"/> keeps between its forward and backward passes (PyTorch's <c>ctx</c>).
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class FunctionContext<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Variable<T>[] _inputs;
    private Tensor<T>[] _saved = [];

    internal FunctionContext(Variable<T>[] inputs) => _inputs = inputs;

    /// <summary>Keeps <paramref name="tensors"/> (inputs, the output or anything computed) for the backward pass.</summary>
    /// <param name="tensors">The tensors, in the order <see cref="SavedTensors"/> returns them.</param>
    public void SaveForBackward(params Tensor<T>[] tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        _saved = (Tensor<T>[])tensors.Clone();
    }

    /// <summary>What <see cref="SaveForBackward"/> kept.</summary>
    public IReadOnlyList<Tensor<T>> SavedTensors => _saved;

    /// <summary>Whether the backward pass needs the gradient of input <paramref name="input"/> (PyTorch's <c>ctx.needs_input_grad</c>).</summary>
    /// <param name="input">The input number, 0-based.</param>
    /// <returns>True when that input requires gradients.</returns>
    public bool NeedsInputGrad(int input) => _inputs[input].RequiresGrad;

    internal void Release() => _saved = [];
}
