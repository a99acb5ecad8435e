using ConvGrad.Data;

namespace ConvGrad.Nn;

/// <summary>The image classifiers <c>convgrad train</c> offers, by name, built for any C×H×W input and K classes, and recognised from a saved state dict.</summary>
public static class ImageClassifiers
{
    /// <summary>The model names: <c>lenet</c> and <c>resnet</c> (the default of <c>convgrad train</c>).</summary>
    public static IReadOnlyList<string> Names { get; } = ["lenet", "resnet"];

    /// <summary>The MNIST digits' input, <c>1×28×28</c> (the default of the built-in models).</summary>
    public static ImageShape Digits { get; } = new(1, 28, 28);

    /// <summary>Builds the named model for <paramref name="input"/> images and <paramref name="classes"/> classes with weights from <paramref name="rng"/>.</summary>
    /// <exception cref="ArgumentException">The name is not one of <see cref="Names"/>, or the input is too small for the model.</exception>
    /// <param name="name">The model name (see <see cref="Names"/>).</param>
    /// <param name="rng">The random source of the initial weights.</param>
    /// <param name="input">One image's shape.</param>
    /// <param name="classes">The number of classes.</param>
    /// <param name="dropout">The dropout probability (LeNet).</param>
    /// <param name="options">Engine and thread settings; null means <see cref="ConvOptions.Default"/>.</param>
    public static Module<float> Create(string name, Random rng, ImageShape input, int classes, double dropout = 0.25, ConvOptions? options = null) => name switch
    {
        "lenet" => LeNet.Create<float>(rng, dropout, options, input.Channels, input.Height, input.Width, classes),
        "resnet" => new ResNet<float>(rng, options: options, inChannels: input.Channels, classes: classes),
        _ => throw new ArgumentException($"unknown model '{name}'; expected {string.Join(" or ", Names)}", nameof(name)),
    };

    /// <summary>Which built-in model a state dict is: <c>resnet</c> when it has <c>fc.weight</c> and <c>conv1.weight</c>, <c>lenet</c> when it has <c>0.weight</c> and <c>10.weight</c>, else null.</summary>
    /// <param name="state">The saved tensors.</param>
    public static string? ArchitectureOf(IReadOnlyDictionary<string, SafeTensor> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        return state.ContainsKey("fc.weight") && state.ContainsKey("conv1.weight") ? "resnet"
            : state.ContainsKey("0.weight") && state.ContainsKey("10.weight") ? "lenet"
            : null;
    }

    /// <summary>
    /// The model whose state dict <paramref name="state"/> is — a ResNet (its widths, blocks, channels and classes read
    /// from the shapes) or LeNet — for <paramref name="input"/> images, with that state loaded.
    /// </summary>
    /// <exception cref="ArgumentException">The state is of neither model, or does not fit the model it names.</exception>
    /// <param name="state">The saved tensors of a model.</param>
    /// <param name="input">One image's shape (null: <see cref="Digits"/>; the channels must match the first layer's).</param>
    /// <param name="options">Engine and thread settings; null means <see cref="ConvOptions.Default"/>.</param>
    public static Module<float> FromState(IReadOnlyDictionary<string, SafeTensor> state, ImageShape? input = null, ConvOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        int Dim(string name, int rank, int axis) => state.TryGetValue(name, out var t) && t.Shape.Length == rank
            ? t.Shape[axis]
            : throw new ArgumentException($"the model file has no {rank}-D '{name}'", nameof(state));
        Module<float> model;
        switch (ArchitectureOf(state))
        {
            case "resnet":
                int blocks = 0;
                while (state.ContainsKey($"layer1.{blocks}.conv1.weight"))
                {
                    blocks++;
                }
                model = new ResNet<float>(new Random(0), [Dim("layer1.0.conv1.weight", 4, 0), Dim("layer2.0.conv1.weight", 4, 0), Dim("layer3.0.conv1.weight", 4, 0)],
                    Math.Max(blocks, 1), options, Dim("conv1.weight", 4, 1), Dim("fc.weight", 2, 0));
                break;
            case "lenet":
                var shape = input ?? Digits with { Channels = Dim("0.weight", 4, 1) };
                model = LeNet.Create<float>(new Random(0), options: options, inChannels: shape.Channels, height: shape.Height, width: shape.Width, classes: Dim("10.weight", 2, 0));
                break;
            default:
                throw new ArgumentException($"the tensors ({string.Join(", ", state.Keys.Take(3))}, ...) are neither a LeNet (0.weight ... 10.weight) nor a ResNet (conv1.weight ... fc.weight)", nameof(state));
        }
        model.LoadState(state);
        return model;
    }
}
