using System.Text.RegularExpressions;
using ConvGrad.Autograd;
using ConvGrad.Data;
using ConvGrad.Nn;
using ConvGrad.Optim;
using ConvGrad.Training;

namespace ConvGrad.Tests;

/// <summary>
/// <c>train --profile</c>'s table (<see cref="StepProfile"/>): every operation kind that ran has a row, the shares add
/// up to the step, the table has its columns, and profiling changes no result. No timing is asserted.
/// </summary>
public class StepProfileTests
{
    /// <summary>
    /// The table rows a traced forward operation must produce (its forward and its node's backward rule); a row of
    /// alternatives (<c>a|b</c>) needs one of them: the ResNet's batch norms, ReLUs and residual adds run fused while
    /// training (an exporter's trace sees them one by one).
    /// </summary>
    private static readonly Dictionary<string, string[]> RowsOf = new()
    {
        ["Conv"] = ["conv", "conv dW"],
        ["BatchNorm"] = ["batch norm|batch norm+relu(+add)"],
        ["Relu"] = ["relu|batch norm+relu(+add)"],
        ["Add"] = ["add|batch norm+relu(+add)"],
        ["MaxPool"] = ["max pool"],
        ["GlobalAvgPool"] = ["global avg pool"],
        ["Flatten"] = ["reshape/flatten"],
        ["Reshape"] = ["reshape/flatten"],
        ["Linear"] = ["linear"],
        ["Dropout"] = ["dropout"],
        ["Layout"] = ["layout reorder"],
    };

    /// <summary>The rows every training step has, whatever the model.</summary>
    private static readonly string[] StepRows =
        ["loss (cross-entropy)", "optimizer step", "zero grad", "data loading (wait)", "autograd bookkeeping", StepProfile.Remainder];

    [Theory]
    [InlineData("resnet")]
    [InlineData("lenet")]
    public void Profile_HasARowForEveryKindThatRan_SharesSumToTheStep_AndTheTableHasItsColumns(string name)
    {
        var profile = new StepProfile();
        var (model, losses) = Train(name, profile);

        // The operation kinds the model runs, from a trace of its forward pass (as an exporter sees them).
        var (x, _) = TestDigits.Batch<float>(0, 2);
        model.SetTraining(true);
        HashSet<string> traced;
        using (TensorScope.Begin())
        using (var trace = OpTrace.Begin())
        {
            model.Forward(x);
            traced = trace.Ops.Select(o => o.Kind.ToString()).ToHashSet();
        }
        var rows = profile.Rows;
        var names = rows.Select(r => r.Operation).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.Equal(3, profile.Steps);
        Assert.Equal(3, losses.Count);
        foreach (var kind in traced)
        {
            Assert.True(RowsOf.ContainsKey(kind), $"no row named for traced {kind}");
            foreach (string expected in RowsOf[kind])
            {
                Assert.True(expected.Split('|').Any(names.Contains), $"traced {kind}: no row {expected} in {string.Join(", ", names)}");
            }
        }
        foreach (string step in StepRows)
        {
            Assert.Contains(step, names);
        }
        if (name == "resnet")
        {
            // Every convolution after the stem needs dX; batch norm, ReLU and the residual add run fused on the blocked
            // layout, and the stem writes it directly: no reorder inside the network but the one before the head.
            Assert.Contains("conv dX", names);
            Assert.Contains("batch norm+relu(+add)", names);
            Assert.DoesNotContain("relu", names);
            Assert.DoesNotContain("add", names);
        }
        Assert.All(rows, r => Assert.True(r.ForwardSeconds >= 0 && r.BackwardSeconds >= 0 && r.Share >= 0, r.ToString()));
        Assert.InRange(rows.Sum(r => r.Share), 0.999999, 1.000001);
        Assert.InRange(rows.Sum(r => r.Seconds) * profile.Steps, 0.999999 * profile.Seconds, 1.000001 * profile.Seconds);
        // A convolution's backward rule is split: its dW is backward time only.
        var dw = rows.Single(r => r.Operation == "conv dW");
        Assert.True(dw.ForwardSeconds == 0 && dw.BackwardSeconds > 0, dw.ToString());
        Assert.True(rows.Single(r => r.Operation == "optimizer step").BackwardSeconds == 0);
        Assert.Equal(StepProfile.Remainder, rows[^1].Operation);

        var lines = profile.Format($"{name}, batch 16").TrimEnd().Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Matches(new Regex($@"^profile: {name}, batch 16, 3 steps, \d+\.\d\d ms per step$"), lines[0]);
        Assert.Matches(new Regex(@"^  operation +forward ms +backward ms +total ms +share$"), lines[1]);
        Assert.Equal(rows.Count + 3, lines.Length);
        var row = new Regex(@"^  (.{24}) +(\d+\.\d{3}) +(\d+\.\d{3}) +(\d+\.\d{3}) +(\d+\.\d)%$");
        for (int i = 0; i < rows.Count; i++)
        {
            var m = row.Match(lines[2 + i]);
            Assert.True(m.Success, lines[2 + i]);
            Assert.Equal(rows[i].Operation, m.Groups[1].Value.TrimEnd());
        }
        var total = row.Match(lines[^1]);
        Assert.True(total.Success, lines[^1]);
        Assert.Equal("step", total.Groups[1].Value.TrimEnd());
        Assert.Equal("100.0", total.Groups[5].Value);
    }

    [Fact]
    public void Profiling_ChangesNoResult()
    {
        var (plain, plainLosses) = Train("lenet", null);
        var (profiled, profiledLosses) = Train("lenet", new StepProfile());
        Assert.Equal(plainLosses, profiledLosses);
        foreach (var (p, q) in plain.Parameters().Zip(profiled.Parameters()))
        {
            Assert.True(p.Value.ReadOnlySpan.SequenceEqual(q.Value.ReadOnlySpan));
        }
    }

    /// <summary>One epoch of 3 batches of 16 digits (shifted, as train does) with 2 threads, profiled into <paramref name="profile"/>.</summary>
    private static (Module<float> Model, List<double> Losses) Train(string name, StepProfile? profile)
    {
        var digits = new DatasetSlice(TestDigits.All, 0, 48);
        var model = ImageClassifiers.Create(name, new Random(1), digits.Shape, 10, options: new ConvOptions { Threads = 2 });
        var sgd = new Sgd<float>(model.Parameters(), 0.05, 0.9, 5e-4, nesterov: true);
        using var loader = new DataLoader(digits, 16, Normalization.Mnist, shuffle: true, seed: 1, [new RandomShift(2)]);
        var trainer = new ClassifierTrainer(model, sgd, new OneCycleSchedule(0.05, 3), seed: 1) { Profile = profile };
        return (model, trainer.TrainEpoch(loader, 0));
    }
}
