using ConvGrad.Nn;
using ConvGrad.Optim;

namespace ConvGrad.Tests;

/// <summary>PyTorch-shaped constructors with a seeded default generator, print(model) and torchinfo's summary.</summary>
public sealed class ModuleReprTests
{
    [Fact]
    public void PyTorchShapedConv2dAndLinear_EqualTheExplicitForms_DrawingFromTheSeededDefaultGenerator()
    {
        Init.ManualSeed(7);
        var conv = new Conv2d<float>(3, 8, 5, stride: 2, padding: 1, dilation: 1, groups: 1, bias: false);
        var linear = new Linear<float>(20, 4);
        var rng = new Random(7);
        var explicitConv = new Conv2d<float>(3, 8, 5, ConvGeometry.Uniform(2, stride: 2, padding: 1), rng, bias: false);
        var explicitLinear = new Linear<float>(20, 4, rng);
        Assert.Equal(explicitConv.Geometry.Stride.ToArray(), conv.Geometry.Stride.ToArray());
        Assert.Equal(explicitConv.Geometry.PaddingAfter.ToArray(), conv.Geometry.PaddingAfter.ToArray());
        Assert.Null(conv.Bias);
        Assert.Equal(explicitConv.Weight.Value.ToArray(), conv.Weight.Value.ToArray());
        Assert.Equal(explicitLinear.Weight.Value.ToArray(), linear.Weight.Value.ToArray());
        var sgd = new Sgd<float>(linear.Parameters(), lr: 0.5);
        Assert.Equal(0.5, sgd.LearningRate);
    }

    [Fact]
    public void ToString_PrintsTheModuleTreeAsPyTorchDoes()
    {
        var lines = LeNet.Create<float>(new Random(1)).ToString().Split('\n');
        Assert.Equal("Sequential(", lines[0]);
        Assert.Equal("  (0): Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1))", lines[1]);
        Assert.Equal("  (1): ReLU()", lines[2]);
        Assert.Equal("  (7): Linear(in_features=1600, out_features=128, bias=True)", lines[8]);
        Assert.Equal("  (9): Dropout(p=0.25)", lines[10]);
        Assert.Equal(")", lines[^1]);
        string resnet = new ResNet<float>(new Random(1)).ToString();
        Assert.Contains("  (conv1): Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n  (bn1): BatchNorm2d(16, eps=1E-05, momentum=0.1)", resnet, StringComparison.Ordinal);
        Assert.Contains("      (downsample): Sequential(\n        (0): Conv2d(16, 32, kernel_size=(1, 1), stride=(2, 2), bias=False)", resnet, StringComparison.Ordinal);
    }

    [Fact]
    public void Summary_ListsOutputShapesAndParameterCounts_AndTheTotal()
    {
        var lenet = LeNet.Create<float>(new Random(1));
        var rows = lenet.Summary(1, 28, 28).Split('\n').Select(l => l.TrimEnd()).ToArray();
        Assert.Contains(rows, r => r.StartsWith("Sequential", StringComparison.Ordinal) && r.Contains("[1, 10]", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.StartsWith("└─Conv2d: 0", StringComparison.Ordinal) && r.Contains("[1, 32, 26, 26]", StringComparison.Ordinal) && r.EndsWith(" 320", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.StartsWith("└─Flatten: 6", StringComparison.Ordinal) && r.Contains("[1, 1600]", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.StartsWith("└─Linear: 7", StringComparison.Ordinal) && r.EndsWith(" 204,928", StringComparison.Ordinal));
        long total = lenet.Parameters().Sum(p => p.Value.Length);
        Assert.Contains($"Total params: {total:N0}", rows);
        Assert.True(lenet.Training);  // the summary's forward pass leaves the mode as it was

        var resnet = new ResNet<float>(new Random(1), inChannels: 3, classes: 5).Summary(3, 32, 32);
        Assert.Contains("[1, 5]", resnet, StringComparison.Ordinal);
        Assert.Contains("  └─BasicBlock: 0", resnet, StringComparison.Ordinal);
    }

    [Fact]
    public void Summary_ShowsTheShapesOfLayersWithParameters_InsideAnyComposite()
    {
        var resnet = new ResNet<float>(new Random(1), inChannels: 3, classes: 5);
        var rows = resnet.Summary(3, 32, 32).Split('\n').Select(l => l.TrimEnd()).ToArray();
        // Inside a BasicBlock (not a Sequential) the convolutions and batch norms show the shapes their operations made;
        // the last stage halves the 32x32 input twice.
        var block = Array.FindLastIndex(rows, r => r.Contains("└─BasicBlock: 1", StringComparison.Ordinal));
        var conv1 = rows.Skip(block).First(r => r.Contains("└─Conv2d: conv1", StringComparison.Ordinal));
        var bn2 = rows.Skip(block).First(r => r.Contains("└─BatchNorm2d: bn2", StringComparison.Ordinal));
        int channels = resnet.Widths[2];
        Assert.Contains($"[1, {channels}, 8, 8]", conv1, StringComparison.Ordinal);
        Assert.Contains($"[1, {channels}, 8, 8]", bn2, StringComparison.Ordinal);
    }
}
