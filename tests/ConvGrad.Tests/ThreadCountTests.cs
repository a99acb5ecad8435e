using System.Collections.Concurrent;
using ConvGrad.Cpu;

namespace ConvGrad.Tests;

/// <summary>
/// Any thread count works: the default is one part per processor whatever the count (checked for 96 processors
/// through <see cref="ConvOptions.EffectiveThreadsFor"/>, what <c>DOTNET_PROCESSOR_COUNT=96</c> gives), explicit counts
/// are honoured up to <see cref="ConvOptions.MaxThreads"/> and clamped above it, and the bits never change.
/// </summary>
public class ThreadCountTests
{
    private const int Processors = 96;

    [Theory]
    [InlineData(0, 96, 96)]
    [InlineData(0, 2, 2)]
    [InlineData(0, 5000, ConvOptions.MaxThreads)]
    [InlineData(65, 2, 65)]
    [InlineData(64, 2, 64)]
    [InlineData(ConvOptions.MaxThreads, 2, ConvOptions.MaxThreads)]
    [InlineData(ConvOptions.MaxThreads + 1, 2, ConvOptions.MaxThreads)]
    [InlineData(1, 96, 1)]
    public void EffectiveThreads_HonoursTheCountUpToTheMaximum(int threads, int processors, int expected) =>
        Assert.Equal(expected, new ConvOptions { Threads = threads }.EffectiveThreadsFor(processors));

    [Fact]
    public void EffectiveThreads_DefaultIsTheProcessorCount() =>
        Assert.Equal(Math.Min(Environment.ProcessorCount, ConvOptions.MaxThreads), ConvOptions.Default.EffectiveThreads);

    /// <summary>Records which thread ran each part.</summary>
    private sealed class Recorder(int parts) : IPartitionedWork
    {
        public readonly int[] Runs = new int[parts];
        public readonly ConcurrentDictionary<int, bool> ThreadIds = new();

        public void Run(int part, int parts)
        {
            Assert.Equal(Runs.Length, parts);
            Interlocked.Increment(ref Runs[part]);
            ThreadIds[Environment.CurrentManagedThreadId] = true;
            Thread.SpinWait(2000);
        }
    }

    /// <summary>Runs <paramref name="parts"/> parts until the pool was free for the call (other tests may hold it), returning the recorder.</summary>
    private static (Recorder Work, int Threads) RunOnFreePool(int parts, int maxThreads)
    {
        for (int attempt = 0; ; attempt++)
        {
            var work = new Recorder(parts);
            int threads = WorkerPool.Run(work, parts, maxThreads);
            Assert.All(work.Runs, r => Assert.Equal(1, r));
            if (threads > 1 || attempt == 200)
            {
                return (work, threads);
            }
            Thread.Sleep(5);
        }
    }

    /// <summary>Every part runs exactly once, on min(parts, maximum) threads; more parts than threads are strided over them.</summary>
    [Theory]
    [InlineData(Processors, WorkerPool.MaxThreads)]
    [InlineData(65, WorkerPool.MaxThreads)]
    [InlineData(2 * ConvOptions.MaxThreads + 5, 8)]
    [InlineData(13, 4)]
    public void WorkerPool_RunsEveryPartOnceOnMoreThanOneThread(int parts, int maxThreads)
    {
        var (work, threads) = RunOnFreePool(parts, maxThreads);
        Assert.Equal(Math.Min(parts, maxThreads), threads);
        Assert.True(work.ThreadIds.Count > 1, $"{parts} parts ran on {work.ThreadIds.Count} thread(s)");
    }

    private static Tensor<float> Random(Random rng, params int[] shape)
    {
        var t = Tensor<float>.Uninitialized(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        return t;
    }

    public static TheoryData<string, int[], int[], int, int> Problems => new()
    {
        { "3x3 same", [2, 16, 20, 20], [16, 16, 3, 3], 1, 1 },
        { "strided", [2, 16, 41, 34], [24, 16, 3, 3], 2, 1 },
        { "depthwise", [2, 24, 30, 30], [24, 1, 3, 3], 1, 24 },
    };

    /// <summary>
    /// With 96 processors and default options every pass is split into 96 parts and runs on more than one thread,
    /// and its result is bitwise the single-threaded one.
    /// </summary>
    [Theory]
    [MemberData(nameof(Problems))]
    public void NinetySixProcessors_SplitEveryPass_AndGiveTheSameBits(string name, int[] xShape, int[] wShape, int stride, int groups)
    {
        var rng = new Random(xShape.Sum() + wShape.Sum());
        var g = ConvGeometry.Uniform(2, stride: stride, padding: 1, groups: groups);
        var p = ConvProblem.ForConv(g, xShape, wShape);
        var x = Random(rng, xShape);
        var w = Random(rng, wShape);
        var b = Random(rng, wShape[0]);
        var dy = Random(rng, [.. p.OutputShape]);
        var one = new ConvOptions { Threads = 1 };
        int threads = ConvOptions.Default.EffectiveThreadsFor(Processors);
        Assert.Equal(Processors, threads);

        var y1 = Conv.Forward(x, w, b, g, one);
        var dx1 = Conv.BackwardData(dy, w, g, x.Shape, one);
        var dw1 = Conv.BackwardWeight(x, dy, g, w.Shape, one);

        var y = Tensor<float>.Uninitialized([.. p.OutputShape]);
        var dx = Tensor<float>.Uninitialized(xShape);
        var dw = Tensor<float>.Uninitialized(wShape);
        var passes = new (string Pass, Action Run, Tensor<float> Got, Tensor<float> Want)[]
        {
            ("forward", () => FastBackend.Instance.Forward(p, x.ReadOnlySpan, w.ReadOnlySpan, b.ReadOnlySpan, y.Span, threads), y, y1),
            ("backward-data", () => FastBackend.Instance.BackwardData(p, dy.ReadOnlySpan, w.ReadOnlySpan, dx.Span, threads), dx, dx1),
            ("backward-weight", () => FastBackend.Instance.BackwardWeight(p, x.ReadOnlySpan, dy.ReadOnlySpan, dw.Span, threads), dw, dw1),
        };
        foreach (var (pass, run, got, want) in passes)
        {
            int used = 1;
            for (int attempt = 0; attempt < 200 && used == 1; attempt++)
            {
                WorkerPool.Run(new Recorder(1), 1);
                run();
                used = WorkerPool.LastRunThreads;
                Assert.True(want.ReadOnlySpan.SequenceEqual(got.ReadOnlySpan), $"{name} {pass}: 96 parts changed the bits");
            }
            Assert.True(used > 1, $"{name} {pass}: ran on {used} thread(s)");
        }
    }
}
