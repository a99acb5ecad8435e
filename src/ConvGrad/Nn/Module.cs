using System.Numerics;
using ConvGrad.Autograd;
using ConvGrad.Data;

namespace ConvGrad.Nn;

/// <summary>
/// A network part in PyTorch's style (<c>nn.Module</c>): <see cref="Forward(Variable{T})"/> computes the output with
/// differentiable <see cref="Functional"/> operations, so gradients come from <c>loss.Backward()</c>. Parameters, buffers
/// and sub-modules are registered under PyTorch's names; <see cref="NamedParameters"/> and <see cref="State"/> qualify
/// them with dots (<c>layer1.0.conv1.weight</c>), so a state dict matches the PyTorch twin's <c>state_dict()</c>.
/// Modules compose by plain C#: a module's <see cref="Forward(Variable{T})"/> may call other modules and functions in any
/// pattern (branches, residual sums, concatenations, shared weights).
/// </summary>
/// <typeparam name="T">float for training; double for gradient checks (both share this code).</typeparam>
public abstract class Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<(string Name, Parameter<T> Value)> _parameters = [];
    private readonly List<(string Name, Tensor<T> Value)> _buffers = [];
    private readonly List<(string Name, Module<T> Value)> _children = [];

    /// <summary>The layer's settings as PyTorch's <c>extra_repr</c> prints them (e.g. <c>1, 32, kernel_size=(3, 3)</c>); empty by default.</summary>
    protected virtual string ExtraRepr() => "";

    /// <summary>The same, for <see cref="ToString"/>.</summary>
    internal string ExtraReprText => ExtraRepr();

    /// <summary>PyTorch's <c>print(model)</c>: the type and settings of this module and, indented, of every sub-module by name.</summary>
    public override string ToString() => ModuleSummary.Repr(this);

    /// <summary>
    /// torchinfo's <c>summary(model, input_size)</c>: one row per module with its output shape for one input of
    /// <paramref name="inputShape"/> (without the batch axis; inside composites other than <see cref="Sequential{T}"/>,
    /// parameter-free layers and nested composites show --) and its parameter count, then the total. Runs one forward
    /// pass in evaluation mode without recording.
    /// </summary>
    /// <param name="inputShape">One input's shape, e.g. <c>1, 28, 28</c>.</param>
    public string Summary(params int[] inputShape) => ModuleSummary.Table(this, inputShape);

    /// <summary>Training mode (batch statistics, dropout) when true; evaluation mode when false.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Switches this module and every sub-module between training and evaluation mode.</summary>
    /// <param name="training">True for training mode, false for evaluation.</param>
    public void SetTraining(bool training)
    {
        Training = training;
        foreach (var (_, m) in _children)
        {
            m.SetTraining(training);
        }
    }

    /// <summary>Training mode (<c>model.train()</c>).</summary>
    public void Train() => SetTraining(true);

    /// <summary>Evaluation mode (<c>model.eval()</c>).</summary>
    public void Eval() => SetTraining(false);

    /// <summary>Computes the output for <paramref name="x"/>, recording the operations when gradients are enabled.</summary>
    /// <param name="x">The input.</param>
    public abstract Variable<T> Forward(Variable<T> x);

    /// <summary>Runs the module on a plain tensor (a leaf that needs no gradient).</summary>
    /// <param name="x">The input.</param>
    public Variable<T> Forward(Tensor<T> x) => Forward(new Variable<T>(x));

    /// <summary>Registers a parameter under <paramref name="name"/> and returns it.</summary>
    /// <param name="name">The name within this module.</param>
    /// <param name="parameter">The parameter.</param>
    protected Parameter<T> RegisterParameter(string name, Parameter<T> parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        CheckName(name);
        _parameters.Add((name, parameter));
        return parameter;
    }

    /// <summary>Registers a state tensor that is saved but not trained (e.g. running statistics) and returns it.</summary>
    /// <param name="name">The name within this module.</param>
    /// <param name="buffer">A tensor saved with the state but not trained (e.g. running statistics).</param>
    protected Tensor<T> RegisterBuffer(string name, Tensor<T> buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        CheckName(name);
        _buffers.Add((name, buffer));
        return buffer;
    }

    /// <summary>Registers a sub-module under <paramref name="name"/> and returns it.</summary>
    /// <typeparam name="TModule">The type of the child module.</typeparam>
    /// <param name="name">The name within this module.</param>
    /// <param name="module">The child module.</param>
    protected TModule RegisterModule<TModule>(string name, TModule module) where TModule : Module<T>
    {
        ArgumentNullException.ThrowIfNull(module);
        CheckName(name);
        _children.Add((name, module));
        module.SetTraining(Training);
        return module;
    }

    private void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.', StringComparison.Ordinal) ||
            _parameters.Any(p => p.Name == name) || _buffers.Any(b => b.Name == name) || _children.Any(c => c.Name == name))
        {
            throw new ArgumentException($"'{name}' is empty, contains a dot or is already registered", nameof(name));
        }
    }

    /// <summary>The registered sub-modules with their names, in registration order.</summary>
    public IEnumerable<(string Name, Module<T> Module)> NamedChildren() => _children.Select(c => (c.Name, c.Value));

    /// <summary>Every parameter of this module and its sub-modules with its qualified PyTorch name.</summary>
    /// <param name="prefix">A prefix for every name (e.g. <c>"layer1."</c>); empty for none.</param>
    public IEnumerable<(string Name, Parameter<T> Parameter)> NamedParameters(string prefix = "")
    {
        foreach (var (name, p) in _parameters)
        {
            yield return (prefix + name, p);
        }
        foreach (var (name, m) in _children)
        {
            foreach (var q in m.NamedParameters($"{prefix}{name}."))
            {
                yield return q;
            }
        }
    }

    /// <summary>
    /// Every buffer (state that is saved but not trained, e.g. running statistics) of this module and its sub-modules with
    /// its qualified PyTorch name (<c>named_buffers()</c>).
    /// </summary>
    /// <param name="prefix">A prefix for every name (e.g. <c>"layer1."</c>); empty for none.</param>
    public IEnumerable<(string Name, Tensor<T> Buffer)> NamedBuffers(string prefix = "")
    {
        foreach (var (name, b) in _buffers)
        {
            yield return (prefix + name, b);
        }
        foreach (var (name, m) in _children)
        {
            foreach (var q in m.NamedBuffers($"{prefix}{name}."))
            {
                yield return q;
            }
        }
    }

    /// <summary>Every trainable parameter (for an optimiser).</summary>
    public IEnumerable<Parameter<T>> Parameters() => NamedParameters().Select(p => p.Parameter);

    /// <summary>Clears every parameter's gradient (<c>model.zero_grad()</c>).</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters())
        {
            p.ZeroGrad();
        }
    }

    /// <summary>
    /// Everything a saved model holds, under PyTorch's <c>state_dict</c> names and order: per module its parameters, its
    /// buffers, then its sub-modules.
    /// </summary>
    /// <param name="prefix">A prefix for every name (e.g. <c>"layer1."</c>); empty for none.</param>
    public IEnumerable<SafeTensor> State(string prefix = "")
    {
        foreach (var (name, p) in _parameters)
        {
            yield return SafeTensor.FromTensor(prefix + name, p.Value);
        }
        foreach (var (name, b) in _buffers)
        {
            yield return SafeTensor.FromTensor(prefix + name, b);
        }
        foreach (var t in ExtraState(prefix))
        {
            yield return t;
        }
        foreach (var (name, m) in _children)
        {
            foreach (var t in m.State($"{prefix}{name}."))
            {
                yield return t;
            }
        }
    }

    /// <summary>The names <see cref="State"/> writes.</summary>
    /// <param name="prefix">A prefix for every name (e.g. <c>"layer1."</c>); empty for none.</param>
    public IEnumerable<string> StateNames(string prefix = "")
    {
        foreach (var (name, _) in _parameters)
        {
            yield return prefix + name;
        }
        foreach (var (name, _) in _buffers)
        {
            yield return prefix + name;
        }
        foreach (var name in ExtraStateNames())
        {
            yield return prefix + name;
        }
        foreach (var (name, m) in _children)
        {
            foreach (var t in m.StateNames($"{prefix}{name}."))
            {
                yield return t;
            }
        }
    }

    /// <summary>
    /// Loads every entry <see cref="State"/> names from <paramref name="state"/>, checking shapes; like PyTorch's
    /// <c>load_state_dict(strict=True)</c>, entries under <paramref name="prefix"/> that the model lacks are an error.
    /// </summary>
    /// <exception cref="ArgumentException">An entry is missing, extra, or has the wrong shape or type.</exception>
    /// <param name="state">The saved tensors, by full name.</param>
    /// <param name="prefix">A prefix for every name (e.g. <c>"layer1."</c>); empty for none.</param>
    public void LoadState(IReadOnlyDictionary<string, SafeTensor> state, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(state);
        var expected = StateNames(prefix).ToHashSet(StringComparer.Ordinal);
        var extra = state.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal) && !expected.Contains(k)).ToList();
        if (extra.Count > 0)
        {
            throw new ArgumentException($"the model file has tensors this model does not: {string.Join(", ", extra)}", nameof(state));
        }
        LoadEntries(state, prefix);
    }

    private void LoadEntries(IReadOnlyDictionary<string, SafeTensor> state, string prefix)
    {
        foreach (var (name, p) in _parameters)
        {
            StateIo.Load(state, prefix + name, p.Value);
        }
        foreach (var (name, b) in _buffers)
        {
            StateIo.Load(state, prefix + name, b);
        }
        LoadExtraState(state, prefix);
        foreach (var (name, m) in _children)
        {
            m.LoadEntries(state, $"{prefix}{name}.");
        }
    }

    /// <summary>State entries that are neither parameters nor <typeparamref name="T"/> buffers (e.g. an I64 counter).</summary>
    /// <param name="prefix">A prefix for every name (e.g. <c>"layer1."</c>); empty for none.</param>
    protected virtual IEnumerable<SafeTensor> ExtraState(string prefix) => [];

    /// <summary>The names (without prefix) of <see cref="ExtraState"/>.</summary>
    protected virtual IEnumerable<string> ExtraStateNames() => [];

    /// <summary>Loads what <see cref="ExtraState"/> saves.</summary>
    /// <param name="state">The saved tensors, by full name.</param>
    /// <param name="prefix">A prefix for every name (e.g. <c>"layer1."</c>); empty for none.</param>
    protected virtual void LoadExtraState(IReadOnlyDictionary<string, SafeTensor> state, string prefix)
    {
    }

    /// <summary>Checks that <paramref name="x"/> has <paramref name="rank"/> axes (and, when given, <paramref name="channels"/> channels).</summary>
    /// <param name="x">The input.</param>
    /// <param name="rank">The rank the input must have.</param>
    /// <param name="module">The child module.</param>
    /// <param name="layout">The layout for the message, e.g. <c>[N, C, H, W]</c>.</param>
    /// <param name="channels">The channel count axis 1 must have; -1 for any.</param>
    protected static void CheckInput(Variable<T> x, int rank, string module, string layout, int channels = -1)
    {
        ArgumentNullException.ThrowIfNull(x);
        var shape = x.Shape;
        if (shape.Length != rank || (channels >= 0 && shape[1] != channels))
        {
            string c = channels >= 0 ? $" with C = {channels}" : "";
            throw new ArgumentException($"{module} expects input {layout}{c}; got {Shapes.Format(shape)}", nameof(x));
        }
    }
}

/// <summary>
/// A trainable tensor (<c>nn.Parameter</c>): a leaf <see cref="Variable{T}"/> that requires gradients. Its name comes
/// from the module that registers it.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Parameter<T> : Variable<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Wraps <paramref name="value"/> (not copied).</summary>
    /// <param name="value">The initial value.</param>
    public Parameter(Tensor<T> value) : base(value, requiresGrad: true)
    {
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
