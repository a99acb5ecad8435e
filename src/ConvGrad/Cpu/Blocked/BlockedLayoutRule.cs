namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// When activations may live in the channel-blocked layout between layers: the float path of the fast CPU engine on a
/// vector tier (block 16 on AVX-512, 8 on AVX2, after the options' ISA cap); never the reference engine, a device
/// backend, or the portable tier (float64 and the reference paths stay NCHW).
/// </summary>
internal static class BlockedLayoutRule
{
    /// <summary>The channel block the blocked kernels use with <paramref name="options"/>, or 0 when activations stay NCHW.</summary>
    public static int BlockSize(ConvOptions? options)
    {
        var o = options ?? ConvOptions.Default;
        return o.Engine != ConvEngine.Fast || o.Backend is not null ? 0 : BlockedNchw.BlockSize(IsaTiers.Resolve(o.MaxIsa));
    }

    /// <summary>
    /// Whether a blocked tensor of block <paramref name="blockSize"/> runs <paramref name="p"/> on the direct blocked
    /// kernels with <paramref name="options"/> (otherwise it takes the NCHW path through conversions).
    /// </summary>
    public static bool RunsBlocked(ConvProblem p, int blockSize, ConvOptions? options) =>
        blockSize == BlockSize(options) && BlockedConv.Applies(p, ConvPass.Forward, blockSize);
}
