using ConvGrad.Autograd;
using ConvGrad.Data;
using ConvGrad.Nn;
using Microsoft.ML.OnnxRuntime;

namespace ConvGrad.Tests.Onnx;

/// <summary>What the ONNX tests share: the bundled digits, ONNX Runtime runs, and element-wise comparison.</summary>
internal static class OnnxTestSupport
{
    /// <summary>The first <paramref name="count"/> bundled digits as <c>[count, 1, 28, 28]</c>, normalised as training does.</summary>
    public static Tensor<float> Digits(int count, bool normalise = true)
    {
        var file = IdxFile.Read(Path.Combine(TestPaths.RepoRoot, "data", "mnist-10k", "images-idx3-ubyte.gz"));
        var x = Tensor<float>.Zeros(count, 1, 28, 28);
        var s = x.Span;
        for (int i = 0; i < s.Length; i++)
        {
            double p = file.Data[i] / 255.0;
            s[i] = (float)(normalise ? (p - MnistSet.Mean) / MnistSet.Std : p);
        }
        return x;
    }

    /// <summary>The model's output for <paramref name="x"/> in evaluation mode, without gradients.</summary>
    public static float[] Forward(Module<float> model, Tensor<float> x)
    {
        model.Eval();
        using (GradMode.NoGrad())
        {
            var y = model.Forward(x);
            return Functional.ToNchw(y).Value.ReadOnlySpan.ToArray();
        }
    }

    /// <summary>ONNX Runtime's output for <paramref name="x"/> on the model in <paramref name="onnx"/> (the first output).</summary>
    public static float[] RunOrt(byte[] onnx, Tensor<float> x, string input = "input")
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL, IntraOpNumThreads = 1 };
        using var session = new InferenceSession(onnx, options);
        return RunOrt(session, x, input);
    }

    /// <summary>One run of an open session.</summary>
    public static float[] RunOrt(InferenceSession session, Tensor<float> x, string input = "input")
    {
        using var value = OrtValue.CreateTensorValueFromMemory(x.ReadOnlySpan.ToArray(), x.Shape.ToArray().Select(d => (long)d).ToArray());
        using var run = new RunOptions();
        using var outputs = session.Run(run, [input], [value], session.OutputNames);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>Asserts <c>|a − b| ≤ tolerance·max(1, |b|)</c> element-wise, naming the worst element.</summary>
    public static void AssertClose(float[] expected, float[] actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        int at = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = Math.Abs((double)expected[i] - actual[i]) / Math.Max(1, Math.Abs((double)expected[i]));
            if (!(e <= worst))
            {
                worst = e;
                at = i;
            }
        }
        Assert.True(worst <= tolerance, $"{what}: element {at} differs by {worst:E3} (expected {expected[Math.Max(at, 0)]}, got {actual[Math.Max(at, 0)]}); tolerance {tolerance:E1}");
    }

    /// <summary>Gives every batch norm of <paramref name="model"/> non-trivial running statistics, scale and shift.</summary>
    public static void RandomiseBatchNorms(Module<float> model, int seed)
    {
        var rng = new Random(seed);
        foreach (var (name, p) in model.NamedParameters().Where(p => IsBatchNorm(model, p.Name)))
        {
            var s = p.Value.Span;
            for (int i = 0; i < s.Length; i++)
            {
                s[i] = name.EndsWith("weight", StringComparison.Ordinal) ? (float)(0.5 + rng.NextDouble()) : (float)(rng.NextDouble() - 0.5);
            }
        }
        foreach (var (name, b) in model.NamedBuffers())
        {
            var s = b.Span;
            for (int i = 0; i < s.Length; i++)
            {
                s[i] = name.EndsWith("running_var", StringComparison.Ordinal) ? (float)(0.5 + rng.NextDouble()) : (float)(rng.NextDouble() - 0.5);
            }
        }
    }

    private static bool IsBatchNorm(Module<float> model, string parameter) =>
        model.NamedBuffers().Any(b => b.Name == parameter[..parameter.LastIndexOf('.')] + ".running_mean");

    /// <summary>The index of the largest value in each row of <paramref name="values"/> <c>[rows, classes]</c>.</summary>
    public static int[] ArgMax(float[] values, int classes) =>
        Enumerable.Range(0, values.Length / classes).Select(r =>
        {
            int best = 0;
            for (int j = 1; j < classes; j++)
            {
                if (values[r * classes + j] > values[r * classes + best])
                {
                    best = j;
                }
            }
            return best;
        }).ToArray();
}
