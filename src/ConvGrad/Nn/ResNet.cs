using System.Numerics;
using ConvGrad.Autograd;

namespace ConvGrad.Nn;

/// <summary>
/// A small residual network for <c>[N, C, H, W]</c> images and K classes (by default <c>[N, 1, 28, 28]</c> digits and 10) (<c>convgrad train --model resnet</c>):
/// a 3×3 stem, three stages of <see cref="BasicBlock{T}"/>s whose widths are <see cref="Widths"/> (the 2nd and 3rd
/// stages start with a stride-2 block whose shortcut is a 1×1 projection), global average pooling and a linear head.
/// Names follow torchvision (<c>conv1</c>, <c>bn1</c>, <c>layer1.0.conv1</c>, <c>layer2.0.downsample.0</c>, <c>fc</c>),
/// matching <see cref="PyTorchDefinition"/>.
/// </summary>
/// <remarks>
/// <code>
/// conv1 3×3 (1 → w1) + bn1 + ReLU          [N, w1, 28, 28]
/// layer1: 2 × BasicBlock(w1)               [N, w1, 28, 28]
/// layer2: BasicBlock(w1 → w2, stride 2), BasicBlock(w2)   [N, w2, 14, 14]
/// layer3: BasicBlock(w2 → w3, stride 2), BasicBlock(w3)   [N, w3, 7, 7]
/// global average pool + flatten            [N, w3]
/// fc: Linear(w3, 10)                       logits [N, 10]
/// </code>
/// </remarks>
/// <typeparam name="T">float or double.</typeparam>
public sealed class ResNet<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The widths of the three stages unless given: 16, 32, 64.</summary>
    public static readonly int[] DefaultWidths = [16, 32, 64];

    /// <summary>Builds the network with weights drawn from <paramref name="rng"/>.</summary>
    /// <param name="rng">Seeded generator (Kaiming normal for the convolutions, Xavier uniform for the head).</param>
    /// <param name="widths">Channels of the three stages (default <see cref="DefaultWidths"/>).</param>
    /// <param name="blocks">Basic blocks per stage (default 2).</param>
    /// <param name="options">Engine and threads for the convolutions and the head.</param>
    /// <param name="inChannels">Channels of the input images (1 gray, 3 RGB).</param>
    /// <param name="classes">Classes (outputs of the head).</param>
    public ResNet(Random rng, int[]? widths = null, int blocks = 2, ConvOptions? options = null, int inChannels = 1, int classes = 10)
    {
        ArgumentNullException.ThrowIfNull(rng);
        widths ??= DefaultWidths;
        if (widths.Length != 3 || widths.Any(w => w < 1) || blocks < 1)
        {
            throw new ArgumentException($"ResNet needs three widths >= 1 and blocks >= 1; got [{string.Join(", ", widths)}], {blocks}", nameof(widths));
        }
        if (inChannels < 1 || classes < 1)
        {
            throw new ArgumentException($"ResNet needs inChannels >= 1 and classes >= 1; got {inChannels}, {classes}", nameof(inChannels));
        }
        Widths = widths.ToArray();
        InChannels = inChannels;
        Classes = classes;
        Blocks = blocks;
        Conv1 = RegisterModule("conv1", new Conv2d<T>(inChannels, widths[0], 3, ConvGeometry.Uniform(2, padding: 1), rng, bias: false, options));
        Bn1 = RegisterModule("bn1", new BatchNorm2d<T>(widths[0]));
        var stages = new Sequential<T>[3];
        int inCh = widths[0];
        for (int s = 0; s < 3; s++)
        {
            var list = new Module<T>[blocks];
            for (int b = 0; b < blocks; b++)
            {
                list[b] = new BasicBlock<T>(inCh, widths[s], b == 0 && s > 0 ? 2 : 1, rng, options);
                inCh = widths[s];
            }
            stages[s] = RegisterModule($"layer{s + 1}", new Sequential<T>(list));
        }
        Stages = stages;
        Fc = RegisterModule("fc", new Linear<T>(widths[2], classes, rng, options: options));
        Init.XavierUniform(Fc.Weight.Value, rng);
        // Global average pooling returns NCHW features for the head, so the activations may stay channel-blocked in between.
        BlockedActivations.Keep(this);
    }

    /// <summary>Channels of the three stages.</summary>
    public IReadOnlyList<int> Widths { get; }

    /// <summary>Basic blocks per stage.</summary>
    public int Blocks { get; }

    /// <summary>Channels of the input images.</summary>
    public int InChannels { get; }

    /// <summary>Classes (outputs).</summary>
    public int Classes { get; }

    /// <summary>The stem convolution.</summary>
    public Conv2d<T> Conv1 { get; }

    /// <summary>The stem's batch norm.</summary>
    public BatchNorm2d<T> Bn1 { get; }

    /// <summary><c>layer1</c>, <c>layer2</c>, <c>layer3</c>.</summary>
    public IReadOnlyList<Sequential<T>> Stages { get; }

    /// <summary>The classifier head.</summary>
    public Linear<T> Fc { get; }

    /// <inheritdoc />
    public override Variable<T> Forward(Variable<T> x)
    {
        CheckInput(x, 4, "ResNet", $"[N, {InChannels}, H, W]", InChannels);
        var h = Bn1.ForwardRelu(Conv1.Forward(x));
        foreach (var stage in Stages)
        {
            h = stage.Forward(h);
        }
        return Fc.Forward(Functional.Flatten(Functional.GlobalAvgPool(h)));
    }

    /// <summary>The equivalent PyTorch model (for the default widths and 2 blocks per stage): <c>load_state_dict(strict=True)</c> accepts ConvGrad's saved weights.</summary>
    public const string PyTorchDefinition = """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        class BasicBlock(nn.Module):
            def __init__(self, cin, cout, stride):
                super().__init__()
                self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(cout)
                self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
                self.bn2 = nn.BatchNorm2d(cout)
                self.downsample = None
                if stride != 1 or cin != cout:
                    self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

            def forward(self, x):
                h = F.relu(self.bn1(self.conv1(x)))
                h = self.bn2(self.conv2(h))
                return F.relu(h + (x if self.downsample is None else self.downsample(x)))

        class ResNet(nn.Module):
            def __init__(self, widths=(16, 32, 64), blocks=2):
                super().__init__()
                self.conv1 = nn.Conv2d(1, widths[0], 3, 1, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(widths[0])
                cin, stages = widths[0], []
                for s, w in enumerate(widths):
                    layer = []
                    for b in range(blocks):
                        layer.append(BasicBlock(cin, w, 2 if b == 0 and s > 0 else 1))
                        cin = w
                    stages.append(nn.Sequential(*layer))
                self.layer1, self.layer2, self.layer3 = stages
                self.fc = nn.Linear(widths[2], 10)

            def forward(self, x):
                h = F.relu(self.bn1(self.conv1(x)))
                h = self.layer3(self.layer2(self.layer1(h)))
                return self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))
        """;
}
