using ConvGrad.Autograd;

namespace ConvGrad.Tests;

/// <summary>
/// Float64 finite differences through graphs whose STRUCTURE is drawn at random (the fixed graph of
/// <see cref="AutogradTests"/> only draws values): each step applies a random operation to randomly chosen earlier
/// results, so results are used several times, branches meet and tensors are concatenated; every operation a draw
/// missed is appended, so each graph uses them all. Every result is [2, C, 4, 4] (same-size convolutions and pools;
/// the 1-D and 3-D convolutions work on reshaped views), so any two with equal C can be combined.
/// </summary>
public class RandomGraphGradCheckTests
{
    private enum Op { Conv2d, ConvTranspose2d, Conv1d, Conv3d, Relu, BatchNormTrain, BatchNormEval, Add, Sub, Mul, Concat, MaxPool, AvgPool, Dropout, KeyedDropout }

    private readonly record struct Step(Op Op, int A, int B, int[] Leaves, int Out);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void RandomGraphUsingEveryOperation_MatchesFiniteDifferences(int seed)
    {
        var rng = new Random(seed);
        var leaves = new List<Variable<double>>();
        int Leaf(params int[] shape)
        {
            leaves.Add(new Variable<double>(NnGradCheck.Random(rng, shape), requiresGrad: true));
            return leaves.Count - 1;
        }

        var channels = new List<int> { 2 };
        Leaf(2, 2, 4, 4); // x, value 0
        var steps = new List<Step>();
        var ops = Enum.GetValues<Op>();
        var drawn = Enumerable.Range(0, 10).Select(_ => ops[rng.Next(ops.Length)]);
        foreach (var op in drawn)
        {
            Add(op);
        }
        foreach (var op in ops.Where(op => !steps.Any(s => s.Op == op)))
        {
            Add(op);
        }
        Assert.All(ops, op => Assert.Contains(steps, s => s.Op == op));
        int last = channels.Count - 1;
        int head = Leaf(3, channels[last]), headBias = Leaf(3);
        int side = Leaf(4, channels.Sum() * 16);
        int[] labels = [2, 0];

        Variable<double> Graph(Variable<double>[] v)
        {
            var values = new List<Variable<double>> { v[0] };
            foreach (var s in steps)
            {
                values.Add(Apply(s, values[s.A], values[s.B], s.Leaves.Select(i => v[i]).ToArray()));
            }
            // Two losses: cross-entropy of a linear head on the pooled last result, and NLL of log-softmax of a head
            // that reads every result at once (a concatenation of all of them, flattened).
            var pooled = Functional.Flatten(Functional.GlobalAvgPool(values[^1]));
            var loss = Functional.CrossEntropy(Functional.Linear(pooled, v[head], v[headBias]), labels);
            var all = Functional.Flatten(Functional.Concat([.. values]));
            var logp = Functional.LogSoftmax(Functional.Linear(all, v[side], null));
            return loss + Functional.NllLoss(logp, labels) + Functional.Mean(values[^1] * values[^1]);
        }

        NnGradCheck.CheckFunction(Graph, [.. leaves], tolerance: 1e-6, maxSamples: 24);

        void Add(Op op)
        {
            // Concatenations join results of at most 3 channels (x has 2), so no result is wider than 6.
            var narrow = Enumerable.Range(0, channels.Count).Where(i => channels[i] <= 3).ToArray();
            int a = op == Op.Concat ? narrow[rng.Next(narrow.Length)] : rng.Next(channels.Count), ca = channels[a];
            var same = op == Op.Concat ? narrow : Enumerable.Range(0, channels.Count).Where(i => channels[i] == ca).ToArray();
            int b = same[rng.Next(same.Length)]; // may be a itself: a tensor used twice by one operation
            int cout = 2 + rng.Next(2);
            (int[] W, int C) r = op switch
            {
                Op.Conv2d => ([Leaf(cout, ca, 3, 3), Leaf(cout)], cout),
                Op.ConvTranspose2d => ([Leaf(ca, cout, 3, 3)], cout),
                Op.Conv1d => ([Leaf(ca, ca, 3), Leaf(ca)], ca),
                Op.Conv3d => ([Leaf(1, 1, 3, 3, 3)], ca),
                Op.BatchNormTrain or Op.BatchNormEval => ([Leaf(ca), Leaf(ca)], ca),
                Op.Concat => ([], ca + channels[b]),
                _ => ([], ca),
            };
            steps.Add(new Step(op, a, b, r.W, steps.Count + 1));
            channels.Add(r.C);
        }
    }

    private static Variable<double> Apply(Step s, Variable<double> a, Variable<double> b, Variable<double>[] w)
    {
        int c = a.Value.Dim(1);
        return s.Op switch
        {
            Op.Conv2d => Functional.Conv(a, w[0], w[1], ConvGeometry.Uniform(2, padding: 1)),
            Op.ConvTranspose2d => Functional.ConvTranspose(a, w[0], null, ConvGeometry.Uniform(2, padding: 1)),
            Op.Conv1d => Functional.Reshape(Functional.Conv(Functional.Reshape(a, 2, c, 16), w[0], w[1], ConvGeometry.Uniform(1, padding: 2, dilation: 2)), 2, c, 4, 4),
            Op.Conv3d => Functional.Reshape(Functional.Conv(Functional.Reshape(a, 2, 1, c, 4, 4), w[0], null, ConvGeometry.Uniform(3, padding: 1)), 2, c, 4, 4),
            Op.Relu => Functional.Relu(a),
            Op.BatchNormTrain => Functional.BatchNorm(a, w[0], w[1], null, null, training: true),
            Op.BatchNormEval => Functional.BatchNorm(a, w[0], w[1], Filled(c, 0.1), Filled(c, 1.7), training: false),
            Op.Add => a + b,
            Op.Sub => a - b,
            Op.Mul => a * b,
            Op.Concat => Functional.Concat(a, b),
            Op.MaxPool => Functional.MaxPool2d(a, 3, stride: 1, padding: 1),
            Op.AvgPool => Functional.AvgPool2d(a, 3, stride: 1, padding: 1),
            // Fixed masks: the same generator seed and sample keys in every evaluation of the graph.
            Op.Dropout => Functional.Dropout(a, 0.3, training: true, new Random(s.Out)),
            Op.KeyedDropout => Functional.Dropout(a, 0.3, training: true, (ulong)s.Out, 1, [7, 3]),
            _ => throw new ArgumentOutOfRangeException(nameof(s), s.Op, null),
        };
    }

    private static Tensor<double> Filled(int n, double value)
    {
        var t = Tensor<double>.Zeros(n);
        t.Span.Fill(value);
        return t;
    }
}
