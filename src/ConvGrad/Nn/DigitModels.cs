using ConvGrad.Data;

namespace ConvGrad.Nn;

/// <summary>The digit classifiers <c>convgrad train</c> offers, by name, and recognising them from a saved state dict.</summary>
public static class DigitModels
{
    /// <summary>The model names: <c>lenet</c> and <c>resnet</c> (the default of <c>convgrad train</c>).</summary>
    public static IReadOnlyList<string> Names { get; } = ["lenet", "resnet"];

    /// <summary>Builds the named model with weights from <paramref name="rng"/>.</summary>
    /// <exception cref="ArgumentException">The name is not one of <see cref="Names"/>.</exception>
    /// <param name="name">The model name (see <see cref="Names"/>).</param>
    /// <param name="rng">The random source of the initial weights.</param>
    /// <param name="dropout">The dropout probability.</param>
    /// <param name="options">Engine and thread settings; null means <see cref="ConvOptions.Default"/>.</param>
    public static Module<float> Create(string name, Random rng, double dropout = 0.25, ConvOptions? options = null) => name switch
    {
        "lenet" => LeNet.Create<float>(rng, dropout, options),
        "resnet" => new ResNet<float>(rng, options: options),
        _ => throw new ArgumentException($"unknown model '{name}'; expected {string.Join(" or ", Names)}", nameof(name)),
    };

    /// <summary>
    /// The model whose state dict <paramref name="state"/> is — a ResNet (its widths and blocks read from the shapes)
    /// when it has <c>fc.weight</c>, else LeNet — with that state loaded.
    /// </summary>
    /// <exception cref="ArgumentException">The state does not fit the model it names.</exception>
    /// <param name="state">The saved tensors of a model.</param>
    /// <param name="options">Engine and thread settings; null means <see cref="ConvOptions.Default"/>.</param>
    public static Module<float> FromState(IReadOnlyDictionary<string, SafeTensor> state, ConvOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        Module<float> model;
        if (state.ContainsKey("fc.weight"))
        {
            int Width(string name) => state.TryGetValue(name, out var t) && t.Shape.Length == 4
                ? t.Shape[0]
                : throw new ArgumentException($"the model file has fc.weight (a ResNet) but no 4-D '{name}'", nameof(state));
            int blocks = 0;
            while (state.ContainsKey($"layer1.{blocks}.conv1.weight"))
            {
                blocks++;
            }
            model = new ResNet<float>(new Random(0), [Width("layer1.0.conv1.weight"), Width("layer2.0.conv1.weight"), Width("layer3.0.conv1.weight")],
                Math.Max(blocks, 1), options);
        }
        else
        {
            model = LeNet.Create<float>(new Random(0), options: options);
        }
        model.LoadState(state);
        return model;
    }
}
