using System.Diagnostics;
using ConvGrad.Gpu;

namespace ConvGrad.Cli;

/// <summary>
/// Times the three passes of one convolution on a <see cref="GpuDevice"/> with device-resident operands (uploaded
/// once, so no host↔device copy is timed): after <c>warmup</c> untimed calls (which also compile the specialised
/// kernels), <c>rounds</c> rounds each time <c>reps</c> back-to-back launches between two device synchronisations;
/// the result is the median over rounds of the time per call. For <c>bench --device</c> and <c>gpu-bench</c>.
/// </summary>
internal static class GpuPassTimer
{
    /// <summary>Median milliseconds per call of forward, backward-data and backward-weight.</summary>
    public static (double Forward, double BackwardData, double BackwardWeight) Measure(
        GpuDevice device, ConvGeometry geometry, int[] inputShape, int[] weightShape, int warmup = 2, int rounds = 5, int reps = 10)
    {
        var p = ConvProblem.ForConv(geometry, inputShape, weightShape);
        using var x = device.Upload(Random(inputShape, 1));
        using var w = device.Upload(Random(weightShape, 2));
        using var b = device.Upload(Random([p.K], 3));
        int[] outputShape = p.YShape.ToArray();
        using var dy = device.Upload(Random(outputShape, 4));
        using var y = device.Allocate(outputShape);
        using var dx = device.Allocate(inputShape);
        using var dw = device.Allocate(weightShape);
        return (
            Time(device, () => GpuConv.Forward(x, w, b, geometry, y), warmup, rounds, reps),
            Time(device, () => GpuConv.BackwardData(dy, w, geometry, dx), warmup, rounds, reps),
            Time(device, () => GpuConv.BackwardWeight(x, dy, geometry, dw), warmup, rounds, reps));
    }

    private static double Time(GpuDevice device, Action pass, int warmup, int rounds, int reps)
    {
        for (int i = 0; i < warmup; i++)
        {
            pass();
        }
        device.Synchronize();
        var perCall = new double[rounds];
        for (int r = 0; r < rounds; r++)
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < reps; i++)
            {
                pass();
            }
            device.Synchronize();
            perCall[r] = Stopwatch.GetElapsedTime(start).TotalMilliseconds / reps;
        }
        Array.Sort(perCall);
        return perCall[rounds / 2];
    }

    private static Tensor<float> Random(int[] shape, int seed)
    {
        var rng = new Random(seed);
        var t = Tensor<float>.Uninitialized(shape);
        foreach (ref var v in t.Span)
        {
            v = (float)(rng.NextDouble() * 2 - 1);
        }
        return t;
    }
}
