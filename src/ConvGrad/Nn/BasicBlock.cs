using System.Numerics;
using ConvGrad.Autograd;

namespace ConvGrad.Nn;

/// <summary>
/// The residual block of ResNet-18/34 (torchvision's <c>BasicBlock</c>):
/// <c>y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))</c>, 3×3 convolutions without bias, the first with
/// the block's stride; the shortcut is the identity, or a 1×1 convolution with the stride and batch norm
/// (<c>downsample.0</c>, <c>downsample.1</c>) when the stride or the width changes.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class BasicBlock<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates the block with Kaiming-normal weights from <paramref name="rng"/>.</summary>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="stride">Stride of the first convolution (and of the projection shortcut).</param>
    /// <param name="rng">Seeded generator for the weights.</param>
    /// <param name="options">Engine and threads for the convolutions.</param>
    public BasicBlock(int inChannels, int outChannels, int stride, Random rng, ConvOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (stride < 1)
        {
            throw new ArgumentException($"stride must be >= 1; got {stride}", nameof(stride));
        }
        Conv1 = RegisterModule("conv1", new Conv2d<T>(inChannels, outChannels, 3, ConvGeometry.Uniform(2, stride: stride, padding: 1), rng, bias: false, options));
        Bn1 = RegisterModule("bn1", new BatchNorm2d<T>(outChannels));
        Conv2 = RegisterModule("conv2", new Conv2d<T>(outChannels, outChannels, 3, ConvGeometry.Uniform(2, padding: 1), rng, bias: false, options));
        Bn2 = RegisterModule("bn2", new BatchNorm2d<T>(outChannels));
        if (stride != 1 || inChannels != outChannels)
        {
            Downsample = RegisterModule("downsample", new Sequential<T>(
                new Conv2d<T>(inChannels, outChannels, 1, ConvGeometry.Uniform(2, stride: stride), rng, bias: false, options),
                new BatchNorm2d<T>(outChannels)));
        }
    }

    /// <summary>The first 3×3 convolution (carries the stride).</summary>
    public Conv2d<T> Conv1 { get; }

    /// <summary>Batch norm after <see cref="Conv1"/>.</summary>
    public BatchNorm2d<T> Bn1 { get; }

    /// <summary>The second 3×3 convolution.</summary>
    public Conv2d<T> Conv2 { get; }

    /// <summary>Batch norm after <see cref="Conv2"/>.</summary>
    public BatchNorm2d<T> Bn2 { get; }

    /// <summary>The projection shortcut (1×1 convolution + batch norm), or null for the identity.</summary>
    public Sequential<T>? Downsample { get; }

    /// <inheritdoc />
    public override Variable<T> Forward(Variable<T> x)
    {
        // relu(bn(·)) and relu(bn(·) + shortcut) are fused operations (BatchNorm2d.ForwardRelu), bitwise the same.
        var h = Conv2.Forward(Bn1.ForwardRelu(Conv1.Forward(x)));
        var shortcut = Downsample is null ? x : Downsample.Forward(x);
        return Bn2.ForwardRelu(h, shortcut);
    }
}
