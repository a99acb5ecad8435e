using System.Numerics;

namespace ConvGrad.Nn;

/// <summary>
/// The digit classifier that <c>convgrad train</c> trains: a LeNet-style CNN with a hidden layer and dropout, for
/// <c>[N, 1, 28, 28]</c> inputs and 10 classes by default (any <c>[N, C, H, W]</c> and K classes: the sizes below
/// are those of the default). Layer indices (and so parameter names) match <see cref="PyTorchDefinition"/>.
/// </summary>
/// <remarks>
/// <code>
/// 0  Conv2d(1, 32, 3)       [N,1,28,28]  → [N,32,26,26]
/// 1  ReLU
/// 2  MaxPool2d(2)           → [N,32,13,13]
/// 3  Conv2d(32, 64, 3)      → [N,64,11,11]
/// 4  ReLU
/// 5  MaxPool2d(2)           → [N,64,5,5]
/// 6  Flatten                → [N,1600]
/// 7  Linear(1600, 128)
/// 8  ReLU
/// 9  Dropout(p)
/// 10 Linear(128, 10)        → logits [N,10]
/// </code>
/// </remarks>
public static class LeNet
{
    /// <summary>The equivalent PyTorch model: <c>load_state_dict</c> accepts ConvGrad's saved weights as they are.</summary>
    public const string PyTorchDefinition = """
        import torch.nn as nn
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Dropout(0.25),
            nn.Linear(128, 10))
        """;

    /// <summary>Builds the model with weights drawn from <paramref name="rng"/> (Kaiming normal before ReLUs, Xavier uniform for the head, zero biases).</summary>
    /// <param name="rng">Seeded generator for the weights and the dropout masks.</param>
    /// <param name="dropout">Dropout probability before the last layer.</param>
    /// <param name="options">Engine and threads for the convolutions.</param>
    /// <param name="inChannels">Channels of the input images (1 gray, 3 RGB).</param>
    /// <param name="height">Input height (at least 10).</param>
    /// <param name="width">Input width (at least 10).</param>
    /// <param name="classes">Classes (outputs of the head).</param>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static Sequential<T> Create<T>(Random rng, double dropout = 0.25, ConvOptions? options = null, int inChannels = 1, int height = 28, int width = 28, int classes = 10)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (inChannels < 1 || height < 10 || width < 10 || classes < 1)
        {
            throw new ArgumentException($"LeNet needs >= 1 channel, images of at least 10x10 and >= 1 class; got {inChannels}x{height}x{width}, {classes} classes", nameof(height));
        }
        var g = ConvGeometry.Valid(2);
        var model = new Sequential<T>(
            new Conv2d<T>(inChannels, 32, 3, g, rng, options: options),
            new ReLU<T>(),
            new MaxPool2d<T>(2),
            new Conv2d<T>(32, 64, 3, g, rng, options: options),
            new ReLU<T>(),
            new MaxPool2d<T>(2),
            new Flatten<T>(),
            new Linear<T>(64 * FeatureSide(height) * FeatureSide(width), 128, rng, options: options),
            new ReLU<T>(),
            new Dropout<T>(dropout, new Random(rng.Next())),
            new Linear<T>(128, classes, rng, options: options));
        // The classifier head feeds softmax, not ReLU: Xavier keeps the initial logits near 0 (loss ≈ ln 10).
        Init.XavierUniform(((Linear<T>)model.Modules[10]).Weight.Value, rng);
        // Flatten reorders to NCHW before the head, so the activations may stay channel-blocked in between.
        BlockedActivations.Keep(model);
        return model;
    }

    /// <summary>The side of the last feature map for an input side <paramref name="side"/>: two valid 3×3 convolutions, each followed by a 2×2 max-pool.</summary>
    /// <param name="side">The input height or width.</param>
    public static int FeatureSide(int side) => ((side - 2) / 2 - 2) / 2;
}
