namespace ConvGrad.Cpu.Pooling;

/// <summary>
/// The storage pooling walks: <see cref="Count"/> planes of <see cref="H"/>×<see cref="W"/> pixels, each pixel
/// <see cref="Lanes"/> consecutive channels, windows moving over pixels and never across lanes. NCHW is the case of
/// one lane (planes = N·C); the channel-blocked format <c>[N, ⌈C/B⌉, H, W, B]</c> is B lanes (planes = N·⌈C/B⌉).
/// One set of pooling kernels therefore serves both formats.
/// </summary>
/// <param name="Count">The planes: images × channel blocks.</param>
/// <param name="Lanes">The channels stored together at a pixel: 1 for NCHW, B for a blocked format.</param>
/// <param name="H">Rows of a plane.</param>
/// <param name="W">Columns of a plane.</param>
internal readonly record struct PoolPlanes(int Count, int Lanes, int H, int W)
{
    /// <summary>The planes of a 4-D tensor <c>[N, C, H, W]</c> in its own storage format.</summary>
    public static PoolPlanes Of<T>(Tensor<T> t) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var shape = t.Shape;
        int lanes = Math.Max(1, t.Format.BlockSize());
        return new PoolPlanes(shape[0] * ((shape[1] + lanes - 1) / lanes), lanes, shape[2], shape[3]);
    }

    /// <summary>Elements of one plane.</summary>
    public int PlaneLength => H * W * Lanes;
}
