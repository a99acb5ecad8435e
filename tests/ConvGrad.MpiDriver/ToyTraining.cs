using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using ConvGrad.Data;
using ConvGrad.Distributed;

namespace ConvGrad.MpiDriver;

/// <summary>
/// A complete data-parallel training loop on a small MLP (64 → 32 → 10, ReLU, dropout) over synthetic data, written
/// without the library's training stack so it exercises exactly the distributed pieces: the epoch order from
/// <see cref="SampleRandom.EpochOrder"/>, shards of every global batch, per-sample noise and dropout keyed by the
/// global sample index, gradients averaged by <see cref="GradientBucketer{T}"/>, SGD with momentum, sharded
/// evaluation, a checkpoint after every epoch (rank 0) and <c>--resume 1</c>. Rank 0 prints the loss of the first
/// steps, the accuracy per epoch and a SHA-256 digest of the final weights.
/// </summary>
internal static class ToyTraining
{
    private const int Features = 64, Hidden = 32, Classes = 10, TrainCount = 2048, TestCount = 512;
    private const ulong DataSeed = 12345;
    private const string ModelName = "toy-mlp";
    private static readonly string[] Names = ["0.weight", "0.bias", "1.weight", "1.bias"];
    private static readonly int[][] Shapes = [[Hidden, Features], [Hidden], [Classes, Hidden], [Classes]];

    public static bool Run(Communicator comm, Options options)
    {
        int epochs = (int)options.Long("epochs", 2);
        int batch = (int)options.Long("batch", 64);
        ulong seed = (ulong)options.Long("seed", 1);
        int logSteps = (int)options.Long("log-steps", 50);
        long crashAfter = options.Long("crash-after-step", -1);
        bool resume = options.Long("resume", 0) == 1;
        string? outDir = options.String("out");
        const float lr = 0.05f, momentum = 0.9f, dropout = 0.1f;

        var w = Shapes.Select(s => new float[s.Aggregate(1, (a, b) => a * b)]).ToArray();
        var v = w.Select(p => new float[p.Length]).ToArray();
        var g = w.Select(p => new float[p.Length]).ToArray();
        for (int i = 0; i < w.Length; i++)
        {
            var rng = new SampleRandom(seed, -1, i);
            float scale = i % 2 == 0 ? 1f / MathF.Sqrt(Shapes[i][^1]) : 0f;
            for (int k = 0; k < w[i].Length; k++)
            {
                w[i][k] = scale * (2 * rng.NextSingle() - 1);
            }
        }
        int startEpoch = 0;
        if (resume)
        {
            var checkpoint = Checkpoint.Load(outDir ?? throw new ArgumentException("--resume needs --out"), ModelName, State(w));
            if (checkpoint.RandomState.Count != 1 || checkpoint.RandomState[0] != seed)
            {
                throw new InvalidDataException($"{outDir}: the checkpoint was trained with another seed");
            }
            for (int i = 0; i < w.Length; i++)
            {
                checkpoint.ModelState[Names[i]].Data.AsSpan().CopyTo(MemoryMarshal.AsBytes(w[i].AsSpan()));
                checkpoint.OptimizerState["velocity." + Names[i]].Data.AsSpan().CopyTo(MemoryMarshal.AsBytes(v[i].AsSpan()));
            }
            startEpoch = checkpoint.Epoch;
            if (comm.IsRoot)
            {
                Console.WriteLine($"resumed from {checkpoint}");
            }
        }

        using var bucketer = new GradientBucketer<float>(comm, w.Select(p => p.Length).ToList(), options.Long("bucket-bytes", 4096));
        var x = new float[Features];
        var h = new float[Hidden];
        var mask = new bool[Hidden];
        var z = new float[Classes];
        var dz = new float[Classes];
        var dh = new float[Hidden];
        int stepsPerEpoch = (TrainCount + batch - 1) / batch;
        long step = (long)startEpoch * stepsPerEpoch;
        var sw = Stopwatch.StartNew();
        for (int epoch = startEpoch; epoch < epochs; epoch++)
        {
            var order = SampleRandom.EpochOrder(TrainCount, seed, epoch);
            for (int b0 = 0; b0 < TrainCount; b0 += batch)
            {
                int size = Math.Min(batch, TrainCount - b0);
                var shard = Shard.Of(size, comm);
                foreach (var gi in g)
                {
                    Array.Clear(gi);
                }
                double lossSum = 0;
                for (int k = shard.Start; k < shard.End; k++)
                {
                    int sample = order[b0 + k];
                    var rng = new SampleRandom(seed, epoch, sample); // this sample's noise and dropout, on any rank
                    Sample(sample, x, out int label);
                    for (int j = 0; j < Features; j++)
                    {
                        x[j] += 0.05f * (2 * rng.NextSingle() - 1);
                    }
                    for (int j = 0; j < Hidden; j++)
                    {
                        mask[j] = !rng.NextBernoulli(dropout);
                    }
                    lossSum += ForwardBackward(w, g, x, label, h, mask, z, dz, dh, 1 / (1 - dropout));
                }
                // Mean over the shard; the bucketer's average over equal shards is the mean over the batch.
                for (int i = g.Length - 1; i >= 0; i--)
                {
                    float inv = 1f / shard.Count;
                    for (int k = 0; k < g[i].Length; k++)
                    {
                        g[i][k] *= inv;
                    }
                    bucketer.MarkReady(i, g[i]);
                }
                bucketer.Finish(i => g[i]);
                for (int i = 0; i < w.Length; i++)
                {
                    for (int k = 0; k < w[i].Length; k++)
                    {
                        v[i][k] = momentum * v[i][k] + g[i][k];
                        w[i][k] -= lr * v[i][k];
                    }
                }
                double loss = comm.AllReduceSum(lossSum) / size;
                if (comm.IsRoot && step < logSteps)
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"step {step} loss {loss:R}"));
                }
                step++;
                if (step == crashAfter && comm.Rank == comm.Size - 1)
                {
                    Console.Error.WriteLine($"rank {comm.Rank}: crashing after step {step}");
                    Console.Error.Flush();
                    Process.GetCurrentProcess().Kill();
                }
            }

            var test = Shard.Of(TestCount, comm);
            long correct = 0;
            double testLoss = 0;
            for (int k = test.Start; k < test.End; k++)
            {
                Sample(TrainCount + k, x, out int label);
                Array.Fill(mask, true);
                testLoss += Forward(w, x, h, mask, z, 1, label, out int predicted);
                correct += predicted == label ? 1 : 0;
            }
            var counts = new EvaluationCounts(correct, test.Count, testLoss).AllReduce(comm);
            if (comm.IsRoot)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"epoch {epoch + 1}/{epochs} on {comm.Description}: held-out accuracy {100 * counts.Accuracy:F2}% ({counts.Correct}/{counts.Total}), loss {counts.MeanLoss:F4}"));
                if (outDir is not null)
                {
                    new Checkpoint(ModelName, epoch + 1, State(w), State(v, "velocity."), [seed],
                        new Dictionary<string, string> { ["ranks"] = comm.Size.ToString(CultureInfo.InvariantCulture) }).Save(outDir);
                }
            }
            comm.Barrier();
        }
        if (comm.IsRoot)
        {
            var stats = bucketer.Stats;
            Console.WriteLine($"{TrainCount * (epochs - startEpoch) / sw.Elapsed.TotalSeconds:F0} samples/s; all-reduce hidden {100 * stats.HiddenShare:F1}%");
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            foreach (var p in w)
            {
                sha.AppendData(MemoryMarshal.AsBytes(p.AsSpan()));
            }
            Console.WriteLine($"digest {Convert.ToHexString(sha.GetHashAndReset())}");
        }
        return true;
    }

    private static IEnumerable<SafeTensor> State(float[][] tensors, string prefix = "") =>
        tensors.Select((t, i) => new SafeTensor(prefix + Names[i], SafeTensorDType.F32, Shapes[i], MemoryMarshal.AsBytes(t.AsSpan()).ToArray()));

    /// <summary>Sample <paramref name="index"/>: uniform features; its label is the best class of a fixed random linear teacher.</summary>
    private static void Sample(int index, float[] x, out int label)
    {
        var rng = new SampleRandom(DataSeed, 0, index);
        for (int j = 0; j < Features; j++)
        {
            x[j] = 2 * rng.NextSingle() - 1;
        }
        label = 0;
        float best = float.NegativeInfinity;
        for (int c = 0; c < Classes; c++)
        {
            var teacher = new SampleRandom(DataSeed, 1, c);
            float s = 0;
            for (int j = 0; j < Features; j++)
            {
                s += (2 * teacher.NextSingle() - 1) * x[j];
            }
            if (s > best)
            {
                (best, label) = (s, c);
            }
        }
    }

    private static double Forward(float[][] w, float[] x, float[] h, bool[] mask, float[] z, float keepScale, int label, out int predicted)
    {
        for (int j = 0; j < Hidden; j++)
        {
            float s = w[1][j];
            for (int f = 0; f < Features; f++)
            {
                s += w[0][j * Features + f] * x[f];
            }
            h[j] = s > 0 && mask[j] ? s * keepScale : 0;
        }
        predicted = 0;
        for (int c = 0; c < Classes; c++)
        {
            float s = w[3][c];
            for (int j = 0; j < Hidden; j++)
            {
                s += w[2][c * Hidden + j] * h[j];
            }
            z[c] = s;
            if (s > z[predicted])
            {
                predicted = c;
            }
        }
        float max = z.Max();
        double sum = 0;
        for (int c = 0; c < Classes; c++)
        {
            sum += Math.Exp(z[c] - max);
        }
        return Math.Log(sum) - (z[label] - max);
    }

    private static double ForwardBackward(float[][] w, float[][] g, float[] x, int label, float[] h, bool[] mask, float[] z, float[] dz, float[] dh, float keepScale)
    {
        double loss = Forward(w, x, h, mask, z, keepScale, label, out _);
        float max = z.Max();
        float sum = 0;
        for (int c = 0; c < Classes; c++)
        {
            dz[c] = MathF.Exp(z[c] - max);
            sum += dz[c];
        }
        Array.Clear(dh);
        for (int c = 0; c < Classes; c++)
        {
            float d = dz[c] / sum - (c == label ? 1 : 0);
            g[3][c] += d;
            for (int j = 0; j < Hidden; j++)
            {
                g[2][c * Hidden + j] += d * h[j];
                dh[j] += d * w[2][c * Hidden + j];
            }
        }
        for (int j = 0; j < Hidden; j++)
        {
            if (h[j] == 0)
            {
                continue;
            }
            float d = dh[j] * keepScale;
            g[1][j] += d;
            for (int f = 0; f < Features; f++)
            {
                g[0][j * Features + f] += d * x[f];
            }
        }
        return loss;
    }
}
