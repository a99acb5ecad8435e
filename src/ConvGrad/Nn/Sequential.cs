using System.Numerics;
using ConvGrad.Autograd;

namespace ConvGrad.Nn;

/// <summary>
/// A chain of modules (<c>nn.Sequential</c>): forward runs them in order. Sub-modules are registered as
/// <c>0</c>, <c>1</c>, ..., so parameters are named like PyTorch's (<c>0.weight</c>, <c>4.bias</c>) and a state dict
/// matches <c>nn.Sequential(...).state_dict()</c>. One module among others: any module can hold one, and it can hold any module.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Sequential<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Module<T>[] _modules;

    /// <summary>Chains <paramref name="modules"/>.</summary>
    /// <param name="modules">The layers, applied in this order.</param>
    public Sequential(params Module<T>[] modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        if (modules.Length == 0 || modules.Any(m => m is null))
        {
            throw new ArgumentException("Sequential needs at least one module and no nulls", nameof(modules));
        }
        _modules = modules;
        for (int i = 0; i < modules.Length; i++)
        {
            RegisterModule(i.ToString(System.Globalization.CultureInfo.InvariantCulture), modules[i]);
        }
    }

    /// <summary>The modules in order.</summary>
    public IReadOnlyList<Module<T>> Modules => _modules;

    /// <inheritdoc />
    public override Variable<T> Forward(Variable<T> x)
    {
        foreach (var m in _modules)
        {
            x = m.Forward(x);
        }
        return x;
    }
}
