using System.Numerics;
using ConvGrad.Autograd;

namespace ConvGrad.Nn;

/// <summary>Rectified linear unit (<c>nn.ReLU</c>): <c>y = max(x, 0)</c>, any shape (<see cref="Functional.Relu{T}"/>).</summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class ReLU<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override Variable<T> Forward(Variable<T> x) => Functional.Relu(x);
}

/// <summary>Flattens <c>[N, ...]</c> to <c>[N, Π ...]</c> (<c>nn.Flatten</c>).</summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Flatten<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override Variable<T> Forward(Variable<T> x) => Functional.Flatten(x);
}

/// <summary>
/// Dropout (<c>nn.Dropout</c>): in training, each element is zeroed with probability <c>p</c> and the rest scaled by
/// <c>1/(1−p)</c>, the mask drawn from the layer's seeded generator; in evaluation the identity
/// (<see cref="Functional.Dropout{T}(Variable{T}, double, bool, Random)"/>).
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Dropout<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Random _rng;

    /// <summary>Creates the layer with drop probability <paramref name="p"/> in [0, 1).</summary>
    /// <param name="p">The probability of zeroing an element.</param>
    /// <param name="rng">The random source of the masks.</param>
    public Dropout(double p, Random rng)
    {
        if (!(p >= 0 && p < 1))
        {
            throw new ArgumentException($"dropout probability must be in [0, 1); got {p}", nameof(p));
        }
        P = p;
        _rng = rng ?? throw new ArgumentNullException(nameof(rng));
    }

    /// <summary>The probability of zeroing an element.</summary>
    public double P { get; }

    /// <inheritdoc />
    protected override string ExtraRepr() => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"p={P:G}");

    private int[]? _keys;
    private ulong _keySeed;
    private long _keyEpoch;

    /// <summary>
    /// Keys the next forward passes' masks by sample (<see cref="Functional.Dropout{T}(Variable{T}, double, bool, ulong, long, ReadOnlySpan{int})"/>):
    /// row <c>i</c> uses <c>SampleRandom(seed, epoch, sampleKeys[i])</c>; null returns to the layer's own generator.
    /// </summary>
    /// <param name="seed">The run seed.</param>
    /// <param name="epoch">The epoch (0-based).</param>
    /// <param name="sampleKeys">The global index of each sample of the next batches, or null to use <see cref="Random"/> again.</param>
    public void KeyBySample(ulong seed, long epoch, int[]? sampleKeys) => (_keySeed, _keyEpoch, _keys) = (seed, epoch, sampleKeys);

    /// <inheritdoc />
    public override Variable<T> Forward(Variable<T> x) => _keys is null
        ? Functional.Dropout(x, P, Training, _rng)
        : Functional.Dropout(x, P, Training, _keySeed, _keyEpoch, _keys);
}
