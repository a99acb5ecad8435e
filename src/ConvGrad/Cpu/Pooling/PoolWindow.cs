namespace ConvGrad.Cpu.Pooling;

/// <summary>
/// Window geometry of 2-D pooling: <c>out = floor((in + 2·pad − k)/stride) + 1</c> (PyTorch, ceil_mode off). Output
/// <c>o</c> reads the input positions <c>o·stride − pad … o·stride − pad + k − 1</c>, clipped to the input: padding is
/// never read (max pooling ignores it; average pooling counts it as zeros by dividing by <c>k²</c>).
/// </summary>
internal readonly record struct PoolWindow(int Kernel, int Stride, int Padding)
{
    /// <summary>Checks the window; <paramref name="stride"/> null means the kernel size.</summary>
    public static PoolWindow Create(int kernel, int? stride, int padding)
    {
        int s = stride ?? kernel;
        if (kernel < 1 || s < 1 || padding < 0 || 2 * padding > kernel)
        {
            throw new ArgumentException($"pooling needs kernel >= 1, stride >= 1 and 0 <= padding <= kernel/2; got kernel {kernel}, stride {s}, padding {padding}", nameof(kernel));
        }
        return new PoolWindow(kernel, s, padding);
    }

    /// <summary>The output size on an axis of <paramref name="input"/> positions; <paramref name="op"/> names the caller in the error.</summary>
    public int Out(int input, string op)
    {
        if (input + 2 * Padding < Kernel)
        {
            throw new ArgumentException($"{op}: kernel {Kernel} is larger than the padded input {input} + 2·{Padding}", "x");
        }
        return (input + 2 * Padding - Kernel) / Stride + 1;
    }

    /// <summary>The input positions <c>[From, To)</c> that output <paramref name="o"/> reads on an axis of <paramref name="extent"/> positions.</summary>
    public (int From, int To) Reads(int o, int extent) =>
        (Math.Max(o * Stride - Padding, 0), Math.Min(o * Stride - Padding + Kernel, extent));

    /// <summary>2×2, stride 2, no padding: no window is ever clipped, and windows never overlap.</summary>
    public bool IsTwoByTwo => Kernel == 2 && Stride == 2 && Padding == 0;
}
