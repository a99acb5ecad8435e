using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvGrad.Cli;

/// <summary>
/// This machine's fp32 FMA peak for one ISA tier of the engine, measured the way <c>bench/onednn/peak.cpp</c> does:
/// 12 independent chains of FMAs in the tier's widest vectors (Vector512 for avx512, Vector256 for avx2, Vector128
/// for portable; enough chains to cover the FMA latency on two pipes), one copy per thread, all threads released
/// together; repetitions for at least a second of warm-up, then the best of 7 (on a shared host, other tenants can only
/// slow a repetition down, so the fastest one is the machine's peak; <c>bench/onednn/run.sh --peak</c> prints it as "best").
/// </summary>
internal static class FmaPeak
{
    private const int Chains = 12;
    private const int Repetitions = 7;
    private const double WarmUpSeconds = 1.0;

    /// <summary>How the peak of <paramref name="tier"/> is measured, for the bench header.</summary>
    public static string Method(ConvIsa tier) => tier switch
    {
        ConvIsa.Avx512 => "Vector512 FMA",
        ConvIsa.Avx2 => "Vector256 FMA",
        _ => "Vector128 FMA",
    };

    private static int Lanes(ConvIsa tier) => tier switch { ConvIsa.Avx512 => 16, ConvIsa.Avx2 => 8, _ => 4 };

    /// <summary>GFLOP/s of <paramref name="tier"/>'s FMAs on <paramref name="threads"/> threads, with repetitions of about <paramref name="repSeconds"/> each.</summary>
    public static double Measure(ConvIsa tier, int threads, double repSeconds)
    {
        Func<long, float, float> kernel = tier switch
        {
            ConvIsa.Avx512 => Kernel512,
            ConvIsa.Avx2 => Kernel256,
            _ => Kernel128,
        };
        double flopsPerIteration = Chains * Lanes(tier) * 2;
        // Calibrate the iteration count on one thread so one repetition lasts about repSeconds.
        long iterations = 1 << 16;
        kernel(iterations, 0.5f);
        var sw = Stopwatch.StartNew();
        kernel(iterations * 16, 0.5f);
        double perIteration = sw.Elapsed.TotalSeconds / (iterations * 16);
        iterations = Math.Max(1 << 16, (long)(repSeconds / perIteration));

        // Warm up for at least WarmUpSeconds: right after start-up the runtime's background JIT (tier-1
        // recompilation) can occupy a core for the better part of a second and halve a 2-thread figure.
        var warmUp = Stopwatch.StartNew();
        do
        {
            Run(kernel, threads, iterations);
        }
        while (warmUp.Elapsed.TotalSeconds < WarmUpSeconds);

        var times = new List<double>();
        for (int rep = 0; rep < Repetitions; rep++)
        {
            times.Add(Run(kernel, threads, iterations));
        }
        return flopsPerIteration * iterations * threads / times.Min() / 1e9;
    }

    private static double Run(Func<long, float, float> kernel, int threads, long iterations)
    {
        using var start = new ManualResetEventSlim(false);
        var workers = new Thread[threads];
        using var ready = new CountdownEvent(threads);
        float sink = 0;
        for (int i = 0; i < threads; i++)
        {
            float seed = 0.5f + i;
            workers[i] = new Thread(() =>
            {
                ready.Signal();
                start.Wait();
                float v = kernel(iterations, seed);
                lock (workers)
                {
                    sink += v;
                }
            }) { IsBackground = true };
            workers[i].Start();
        }
        ready.Wait();
        var sw = Stopwatch.StartNew();
        start.Set();
        foreach (var w in workers)
        {
            w.Join();
        }
        double seconds = sw.Elapsed.TotalSeconds;
        GC.KeepAlive(sink);
        return seconds;
    }

    /// <summary>a_i = a_i·m + c on 12 independent Vector256 (AVX2 FMA); returns a lane of their sum so nothing is dead code.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Kernel256(long iterations, float seed)
    {
        Vector256<float> a0 = Vector256.Create(seed), a1 = Vector256.Create(seed + 1), a2 = Vector256.Create(seed + 2),
            a3 = Vector256.Create(seed + 3), a4 = Vector256.Create(seed + 4), a5 = Vector256.Create(seed + 5),
            a6 = Vector256.Create(seed + 6), a7 = Vector256.Create(seed + 7), a8 = Vector256.Create(seed + 8),
            a9 = Vector256.Create(seed + 9), a10 = Vector256.Create(seed + 10), a11 = Vector256.Create(seed + 11);
        var m = Vector256.Create(0.999999f);
        var c = Vector256.Create(1e-7f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Fma.MultiplyAdd(a0, m, c); a1 = Fma.MultiplyAdd(a1, m, c); a2 = Fma.MultiplyAdd(a2, m, c);
            a3 = Fma.MultiplyAdd(a3, m, c); a4 = Fma.MultiplyAdd(a4, m, c); a5 = Fma.MultiplyAdd(a5, m, c);
            a6 = Fma.MultiplyAdd(a6, m, c); a7 = Fma.MultiplyAdd(a7, m, c); a8 = Fma.MultiplyAdd(a8, m, c);
            a9 = Fma.MultiplyAdd(a9, m, c); a10 = Fma.MultiplyAdd(a10, m, c); a11 = Fma.MultiplyAdd(a11, m, c);
        }
        var s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
        return s.GetElement(0) + s.GetElement(7);
    }

    /// <summary>The same 12 chains in Vector512 (AVX-512F FMA).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Kernel512(long iterations, float seed)
    {
        Vector512<float> a0 = Vector512.Create(seed), a1 = Vector512.Create(seed + 1), a2 = Vector512.Create(seed + 2),
            a3 = Vector512.Create(seed + 3), a4 = Vector512.Create(seed + 4), a5 = Vector512.Create(seed + 5),
            a6 = Vector512.Create(seed + 6), a7 = Vector512.Create(seed + 7), a8 = Vector512.Create(seed + 8),
            a9 = Vector512.Create(seed + 9), a10 = Vector512.Create(seed + 10), a11 = Vector512.Create(seed + 11);
        var m = Vector512.Create(0.999999f);
        var c = Vector512.Create(1e-7f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Avx512F.FusedMultiplyAdd(a0, m, c); a1 = Avx512F.FusedMultiplyAdd(a1, m, c); a2 = Avx512F.FusedMultiplyAdd(a2, m, c);
            a3 = Avx512F.FusedMultiplyAdd(a3, m, c); a4 = Avx512F.FusedMultiplyAdd(a4, m, c); a5 = Avx512F.FusedMultiplyAdd(a5, m, c);
            a6 = Avx512F.FusedMultiplyAdd(a6, m, c); a7 = Avx512F.FusedMultiplyAdd(a7, m, c); a8 = Avx512F.FusedMultiplyAdd(a8, m, c);
            a9 = Avx512F.FusedMultiplyAdd(a9, m, c); a10 = Avx512F.FusedMultiplyAdd(a10, m, c); a11 = Avx512F.FusedMultiplyAdd(a11, m, c);
        }
        var s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
        return s.GetElement(0) + s.GetElement(15);
    }

    /// <summary>The same 12 chains in Vector128 with the cross-platform fused multiply-add (the portable tier's widest).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Kernel128(long iterations, float seed)
    {
        Vector128<float> a0 = Vector128.Create(seed), a1 = Vector128.Create(seed + 1), a2 = Vector128.Create(seed + 2),
            a3 = Vector128.Create(seed + 3), a4 = Vector128.Create(seed + 4), a5 = Vector128.Create(seed + 5),
            a6 = Vector128.Create(seed + 6), a7 = Vector128.Create(seed + 7), a8 = Vector128.Create(seed + 8),
            a9 = Vector128.Create(seed + 9), a10 = Vector128.Create(seed + 10), a11 = Vector128.Create(seed + 11);
        var m = Vector128.Create(0.999999f);
        var c = Vector128.Create(1e-7f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector128.FusedMultiplyAdd(a0, m, c); a1 = Vector128.FusedMultiplyAdd(a1, m, c); a2 = Vector128.FusedMultiplyAdd(a2, m, c);
            a3 = Vector128.FusedMultiplyAdd(a3, m, c); a4 = Vector128.FusedMultiplyAdd(a4, m, c); a5 = Vector128.FusedMultiplyAdd(a5, m, c);
            a6 = Vector128.FusedMultiplyAdd(a6, m, c); a7 = Vector128.FusedMultiplyAdd(a7, m, c); a8 = Vector128.FusedMultiplyAdd(a8, m, c);
            a9 = Vector128.FusedMultiplyAdd(a9, m, c); a10 = Vector128.FusedMultiplyAdd(a10, m, c); a11 = Vector128.FusedMultiplyAdd(a11, m, c);
        }
        var s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
        return s.GetElement(0) + s.GetElement(3);
    }
}
