using System.Numerics;
using ConvGrad.Data;

namespace ConvGrad.Nn;

/// <summary>
/// A chain of modules (<c>nn.Sequential</c>): forward runs them in order, backward in reverse, each module caching
/// its own activations. Parameters are named like PyTorch's: the module's index, a dot and its own name
/// (<c>0.weight</c>, <c>4.bias</c>), so a state dict matches <c>nn.Sequential(...).state_dict()</c>.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Sequential<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Module<T>[] _modules;

    /// <summary>
    /// Chains <paramref name="modules"/>. <see cref="Module{T}.ComputeInputGradient"/> starts false (a network's input
    /// needs no gradient); set it to true to get <c>∂L/∂x</c> from <see cref="Backward"/>.
    /// </summary>
    public Sequential(params Module<T>[] modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        if (modules.Length == 0 || modules.Any(m => m is null))
        {
            throw new ArgumentException("Sequential needs at least one module and no nulls", nameof(modules));
        }
        _modules = modules;
        ComputeInputGradient = false;
    }

    /// <summary>The modules in order.</summary>
    public IReadOnlyList<Module<T>> Modules => _modules;

    /// <inheritdoc />
    public override void SetTraining(bool training)
    {
        base.SetTraining(training);
        foreach (var m in _modules)
        {
            m.SetTraining(training);
        }
    }

    /// <inheritdoc />
    public override Tensor<T> Forward(Tensor<T> x)
    {
        foreach (var m in _modules)
        {
            x = m.Forward(x);
        }
        return x;
    }

    /// <inheritdoc />
    public override Tensor<T>? Backward(Tensor<T> dy)
    {
        _modules[0].ComputeInputGradient = ComputeInputGradient;
        Tensor<T>? d = dy;
        for (int i = _modules.Length - 1; i >= 0; i--)
        {
            d = _modules[i].Backward(d!);
            if (d is null && i > 0)
            {
                throw new InvalidOperationException($"module {i} ({_modules[i].GetType().Name}) returned no input gradient");
            }
        }
        return d;
    }

    /// <inheritdoc />
    public override IEnumerable<Parameter<T>> Parameters() =>
        _modules.SelectMany((m, i) => m.Parameters().Select(p => p.WithPrefix($"{i}.")));

    /// <inheritdoc />
    public override IEnumerable<SafeTensor> State(string prefix = "") =>
        _modules.SelectMany((m, i) => m.State($"{prefix}{i}."));

    /// <inheritdoc />
    public override void LoadState(IReadOnlyDictionary<string, SafeTensor> state, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(state);
        var expected = State(prefix).Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var extra = state.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal) && !expected.Contains(k)).ToList();
        if (extra.Count > 0)
        {
            throw new ArgumentException($"the model file has tensors this model does not: {string.Join(", ", extra)}", nameof(state));
        }
        for (int i = 0; i < _modules.Length; i++)
        {
            _modules[i].LoadState(state, $"{prefix}{i}.");
        }
    }
}
