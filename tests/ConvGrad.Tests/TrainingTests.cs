using ConvGrad.Data;
using ConvGrad.Nn;
using ConvGrad.Optim;
using ConvGrad.Training;

namespace ConvGrad.Tests;

/// <summary>A short end-to-end training run on real digits: it learns, and a seed fixes the loss curve.</summary>
public class TrainingTests
{

    /// <summary>A small CNN (downsample, conv 3x3 ×8, ReLU, max-pool, linear) trained for 250 SGD steps of 32 digits.</summary>
    private static (List<double> Losses, double Accuracy, float[] Weights) Train(int seed)
    {
        var rng = new Random(seed);
        var options = new ConvOptions { Threads = 1 };
        var model = new Sequential<float>(
            new AvgPool2d<float>(2),
            new Conv2d<float>(1, 8, 3, ConvGeometry.Uniform(2, padding: 1), rng, options: options),
            new ReLU<float>(),
            new MaxPool2d<float>(2),
            new Flatten<float>(),
            new Linear<float>(8 * 7 * 7, 10, rng));
        var train = TestDigits.All.Slice(0, 2000);
        var test = TestDigits.All.Slice(8000, 1000);
        const int batch = 32, epochs = 4; // 4 × 63 = 252 steps
        var sgd = new Sgd<float>(model.Parameters(), 0.05, momentum: 0.9);
        var trainer = new ClassifierTrainer(model, sgd, new OneCycleSchedule(0.05, epochs * 63), seed);
        using var loader = new DataLoader(train, batch, Normalization.Mnist, shuffle: true, seed: (ulong)seed, transforms: [new RandomShift(1)]);
        var losses = new List<double>();
        for (int e = 0; e < epochs; e++)
        {
            losses.AddRange(trainer.TrainEpoch(loader, e));
        }
        using var testLoader = new DataLoader(test, 500, Normalization.Mnist);
        double acc = ClassifierTrainer.Evaluate(model, testLoader).Accuracy;
        return (losses, acc, model.Parameters().SelectMany(p => p.Value.ToArray()).ToArray());
    }

    [Fact]
    public void ShortRun_HalvesTheLoss_ReachesNinetyPercentHeldOut_AndIsDeterministic()
    {
        var (losses, acc, weights) = Train(seed: 7);
        Assert.Equal(252, losses.Count);
        double start = losses.Take(10).Average(), end = losses.TakeLast(30).Average();
        Assert.True(end < start / 2, $"loss went from {start:F3} to {end:F3}");
        Assert.True(acc >= 0.90, $"held-out accuracy {acc:P2}");

        var (losses2, acc2, weights2) = Train(seed: 7);
        Assert.Equal(losses, losses2);
        Assert.Equal(acc, acc2);
        Assert.Equal(weights, weights2);
    }
}
