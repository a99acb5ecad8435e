using System.Numerics;
using ConvGrad.Data;

namespace ConvGrad.Nn;

/// <summary>
/// A layer with a forward pass and its backward pass, in the explicit style of a <see cref="Sequential{T}"/>:
/// <see cref="Forward"/> caches what the backward pass needs, <see cref="Backward"/> turns <c>∂L/∂y</c> into
/// <c>∂L/∂x</c> and sets the gradient of every parameter.
/// </summary>
/// <remarks>
/// Outputs and input gradients are handles of buffers the module owns and overwrites on its next call (no allocation
/// per step). This is enforced: once the module's next <see cref="Forward"/> (or <see cref="Backward"/>) reuses a
/// buffer, reading an earlier handle of it throws <see cref="InvalidOperationException"/> rather than returning the
/// new numbers; <see cref="Tensor{T}.Clone"/> a result to keep it. Passing a module its own earlier result is safe:
/// the module then computes into fresh memory (see <see cref="Reuse"/>). Parameter gradients are those of the last
/// backward pass (they are overwritten, not accumulated).
/// </remarks>
/// <typeparam name="T">float for training; double for gradient checks (both share this code).</typeparam>
public abstract class Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Training mode (batch statistics, dropout) when true; evaluation mode when false.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>
    /// Whether <see cref="Backward"/> must compute <c>∂L/∂x</c>; a network's first layer can skip it.
    /// When false, <see cref="Backward"/> returns null.
    /// </summary>
    public bool ComputeInputGradient { get; set; } = true;

    /// <summary>Switches between training and evaluation mode (recursively for containers).</summary>
    public virtual void SetTraining(bool training) => Training = training;

    /// <summary>Computes the output for <paramref name="x"/> and caches what the backward pass needs.</summary>
    public abstract Tensor<T> Forward(Tensor<T> x);

    /// <summary>
    /// Given <c>dy = ∂L/∂y</c> for the output of the last <see cref="Forward"/>, sets every parameter's gradient and
    /// returns <c>∂L/∂x</c> (null when <see cref="ComputeInputGradient"/> is false).
    /// </summary>
    public abstract Tensor<T>? Backward(Tensor<T> dy);

    /// <summary>The trainable parameters with their PyTorch names relative to this module (e.g. <c>weight</c>).</summary>
    public virtual IEnumerable<Parameter<T>> Parameters() => [];

    /// <summary>
    /// Everything a saved model holds, under PyTorch's <c>state_dict</c> names: the parameters, then buffers such as
    /// BatchNorm's running statistics.
    /// </summary>
    public virtual IEnumerable<SafeTensor> State(string prefix = "") =>
        Parameters().Select(p => SafeTensor.FromTensor(prefix + p.Name, p.Value));

    /// <summary>Loads the entries that <see cref="State"/> names from <paramref name="state"/>, checking every shape.</summary>
    /// <exception cref="ArgumentException">An entry is missing or has the wrong shape or type.</exception>
    public virtual void LoadState(IReadOnlyDictionary<string, SafeTensor> state, string prefix = "")
    {
        foreach (var p in Parameters())
        {
            StateIo.Load(state, prefix + p.Name, p.Value);
        }
    }

    /// <summary>
    /// A fresh handle of the module's buffer <paramref name="buffer"/> for an output, gradient or cache of
    /// <paramref name="shape"/>, which the caller is about to overwrite. Every handle of that buffer returned earlier
    /// becomes invalid (reading it throws <see cref="InvalidOperationException"/>), so nobody can read numbers a later
    /// call has overwritten, at the cost of one small object per call and no copy. A new buffer is taken when the
    /// shape changed (the old one goes back to the pool), or when the buffer shares memory with
    /// <paramref name="input"/> — the caller passed the module's own earlier result back in — so the module computes
    /// into fresh memory rather than over what it reads.
    /// </summary>
    /// <param name="buffer">The module's field holding the buffer (null before the first call); updated to the new handle.</param>
    /// <param name="shape">The shape needed.</param>
    /// <param name="input">The tensor the call reads, which the result must not overwrite (null when there is none).</param>
    protected static Tensor<T> Reuse(ref Tensor<T>? buffer, ReadOnlySpan<int> shape, Tensor<T>? input = null)
    {
        if (buffer is not null && buffer.Shape.SequenceEqual(shape) && !buffer.Overlaps(input))
        {
            buffer = buffer.Reissue();
            return buffer;
        }
        if (buffer is not null && !buffer.Overlaps(input))
        {
            buffer.ReleaseLayerBuffer();
        }
        buffer = Tensor<T>.LayerBuffer(shape);
        return buffer;
    }

    /// <summary>The input cached by the last forward pass, or an error naming the module when there is none.</summary>
    protected static Tensor<T> Cached(Tensor<T>? x, string module) =>
        x ?? throw new InvalidOperationException($"{module}.Backward called before Forward");

    /// <summary>Checks that <paramref name="x"/> has <paramref name="rank"/> axes (and, when given, <paramref name="channels"/> channels).</summary>
    protected static void CheckInput(Tensor<T> x, int rank, string module, string layout, int channels = -1)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != rank || (channels >= 0 && x.Dim(1) != channels))
        {
            string c = channels >= 0 ? $" with C = {channels}" : "";
            throw new ArgumentException($"{module} expects input {layout}{c}; got {Shapes.Format(x.Shape)}", nameof(x));
        }
    }
}

/// <summary>A trainable tensor, its gradient and its PyTorch name (e.g. <c>weight</c>, <c>bias</c>).</summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Parameter<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a parameter holding <paramref name="value"/> with a zero gradient of the same shape.</summary>
    public Parameter(string name, Tensor<T> value)
    {
        ArgumentNullException.ThrowIfNull(value);
        Name = name;
        Value = value;
        Grad = Tensor<T>.Zeros(value.Shape.ToArray());
    }

    /// <summary>The name, relative to the owning module or qualified (<c>0.weight</c>) when listed by a container.</summary>
    public string Name { get; }

    /// <summary>The current value.</summary>
    public Tensor<T> Value { get; }

    /// <summary><c>∂L/∂Value</c> from the last backward pass.</summary>
    public Tensor<T> Grad { get; }

    /// <summary>The same parameter under a qualified name (shares value and gradient).</summary>
    public Parameter<T> WithPrefix(string prefix) => prefix.Length == 0 ? this : new(prefix + Name, Value, Grad);

    private Parameter(string name, Tensor<T> value, Tensor<T> grad)
    {
        Name = name;
        Value = value;
        Grad = grad;
    }
}

/// <summary>Loading module state from safetensors entries with errors that name the entry.</summary>
internal static class StateIo
{
    public static void Load<T>(IReadOnlyDictionary<string, SafeTensor> state, string name, Tensor<T> into)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!state.TryGetValue(name, out var t))
        {
            throw new ArgumentException($"the model file has no tensor '{name}' (it has: {string.Join(", ", state.Keys)})", nameof(state));
        }
        if (!t.Shape.AsSpan().SequenceEqual(into.Shape))
        {
            throw new ArgumentException($"tensor '{name}' has shape {Shapes.Format(t.Shape)} in the model file but the model needs {Shapes.Format(into.Shape)}", nameof(state));
        }
        t.CopyTo(into.Span);
    }
}
