using System.Numerics;
using ConvGrad.Autograd;

namespace ConvGrad.Nn;

/// <summary>
/// Fully connected layer (<c>nn.Linear</c>): <c>y = x·Wᵀ + b</c> through <see cref="Functional.Linear{T}"/> (the library's
/// SGEMM in float32). Shapes: x <c>[N, in]</c>, weight <c>[out, in]</c>, bias <c>[out]</c>, y <c>[N, out]</c>.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Linear<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ConvOptions? _options;

    /// <summary>Creates the layer with Kaiming-normal weights from <paramref name="rng"/> and a zero bias.</summary>
    /// <param name="inFeatures">in.</param>
    /// <param name="outFeatures">out.</param>
    /// <param name="rng">Seeded generator for the initial weights.</param>
    /// <param name="bias">Whether the layer has a bias.</param>
    /// <param name="options">Worker threads (<see cref="ConvOptions.Threads"/>); the engine setting is not used.</param>
    public Linear(int inFeatures, int outFeatures, Random rng, bool bias = true, ConvOptions? options = null)
    {
        if (inFeatures < 1 || outFeatures < 1)
        {
            throw new ArgumentException($"feature counts must be >= 1; got in {inFeatures}, out {outFeatures}", nameof(inFeatures));
        }
        _options = options;
        Weight = RegisterParameter("weight", new Parameter<T>(Tensor<T>.Zeros(outFeatures, inFeatures)));
        Init.KaimingNormal(Weight.Value, rng);
        Bias = bias ? RegisterParameter("bias", new Parameter<T>(Tensor<T>.Zeros(outFeatures))) : null;
    }

    /// <summary>PyTorch's <c>nn.Linear(in_features, out_features, bias=True)</c>: weights from <paramref name="rng"/>, or from <see cref="Init.Generator"/> when it is null.</summary>
    /// <param name="inFeatures">in.</param>
    /// <param name="outFeatures">out.</param>
    /// <param name="bias">Whether the layer has a bias.</param>
    /// <param name="rng">The generator of the initial weights, or null for <see cref="Init.Generator"/>.</param>
    /// <param name="options">Worker threads (<see cref="ConvOptions.Threads"/>).</param>
    public Linear(int inFeatures, int outFeatures, bool bias = true, Random? rng = null, ConvOptions? options = null)
        : this(inFeatures, outFeatures, rng ?? Init.Generator, bias, options)
    {
    }

    /// <summary>The weight <c>[out, in]</c>.</summary>
    public Parameter<T> Weight { get; }

    /// <summary>The bias <c>[out]</c>, or null.</summary>
    public Parameter<T>? Bias { get; }

    /// <inheritdoc />
    protected override string ExtraRepr() => $"in_features={Weight.Value.Dim(1)}, out_features={Weight.Value.Dim(0)}, bias={(Bias is null ? "False" : "True")}";

    /// <inheritdoc />
    public override Variable<T> Forward(Variable<T> x)
    {
        CheckInput(x, 2, "Linear", "[N, in]");
        if (x.Value.Dim(1) != Weight.Value.Dim(1))
        {
            throw new ArgumentException($"Linear expects input [N, {Weight.Value.Dim(1)}]; got {Shapes.Format(x.Shape)}", nameof(x));
        }
        return Functional.Linear(x, Weight, Bias, _options);
    }
}
