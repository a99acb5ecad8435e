using System.Runtime.InteropServices;

namespace ConvGrad.Cpu.Depthwise;

/// <summary>The constants of the depthwise kernels and the static split of their work, in one place.</summary>
internal static class DepthwiseBlocking
{
    /// <summary>Floats per dW accumulator block (one Vector256 of partial sums per kernel tap).</summary>
    public const int AccumulatorFloats = 8;

    /// <summary>Row padding granule: source rows are readable up to a whole number of vectors past their last output.</summary>
    public const int RowGranule = 8;

    /// <summary>Outputs per multiply-accumulate tile (4 vectors: one broadcast weight feeds 4 independent FMA chains); sources are padded to whole tiles.</summary>
    public const int TileFloats = 32;

    /// <summary>Below this many multiply-adds a pass runs on the calling thread (waking a worker costs more than it saves).</summary>
    public const long ParallelMinMultiplyAdds = 1L << 17;

    /// <summary>How many parts to split <paramref name="units"/> independent units into.</summary>
    public static int Parts(ConvProblem p, int units, int threads) =>
        p.MultiplyAdds < ParallelMinMultiplyAdds ? 1 : Math.Max(1, Math.Min(threads, units));

    /// <summary>The half-open unit range of part <paramref name="part"/> of <paramref name="parts"/> (a pure function of its arguments).</summary>
    public static (int Begin, int End) Range(int units, int part, int parts) =>
        ((int)((long)units * part / parts), (int)((long)units * (part + 1) / parts));

    public static int RoundUp(int n, int granule) => (n + granule - 1) / granule * granule;

    /// <summary>⌈a / b⌉ for b &gt; 0 and any sign of a.</summary>
    public static int CeilDiv(int a, int b) => a >= 0 ? (a + b - 1) / b : -(-a / b);
}

/// <summary>A 64-byte aligned native buffer of <typeparamref name="T"/>, freed on dispose (per-call scratch, never on the GC heap).</summary>
internal readonly unsafe struct NativeBuffer<T> : IDisposable
    where T : unmanaged
{
    public NativeBuffer(long count)
    {
        Pointer = (T*)NativeMemory.AlignedAlloc((nuint)(Math.Max(count, 1) * sizeof(T)), 64);
    }

    public T* Pointer { get; }

    public void Dispose() => NativeMemory.AlignedFree(Pointer);
}
