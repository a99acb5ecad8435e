namespace ConvGrad.Cpu;

/// <summary>
/// A count known when the JIT compiles a generic kernel (pixels per register tile, taps per row, channels): a kernel
/// generic over <c>TCount : ICount</c> reads <c>TCount.Value</c> as a constant, so its loops over it unroll and its
/// accumulators stay in registers, one specialisation per count.
/// </summary>
internal interface ICount
{
    /// <summary>The count.</summary>
    static abstract int Value { get; }
}

internal readonly struct One : ICount { public static int Value => 1; }
internal readonly struct Two : ICount { public static int Value => 2; }
internal readonly struct Three : ICount { public static int Value => 3; }
internal readonly struct Four : ICount { public static int Value => 4; }
internal readonly struct Five : ICount { public static int Value => 5; }
internal readonly struct Six : ICount { public static int Value => 6; }
internal readonly struct Seven : ICount { public static int Value => 7; }
internal readonly struct Eight : ICount { public static int Value => 8; }
internal readonly struct Nine : ICount { public static int Value => 9; }
