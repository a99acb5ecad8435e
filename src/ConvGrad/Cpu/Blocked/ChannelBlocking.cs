namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// The sizes a blocked kernel walks: logical <c>[N, C, spatial...]</c> stored as <c>[N, ⌈C/B⌉, spatial..., B]</c>.
/// </summary>
/// <param name="N">Images.</param>
/// <param name="C">Channels.</param>
/// <param name="BlockSize">Channels per block, B (8 or 16).</param>
/// <param name="Spatial">The product of the spatial sizes.</param>
internal readonly record struct ChannelBlocking(int N, int C, int BlockSize, int Spatial)
{
    /// <summary>⌈C/B⌉.</summary>
    public int ChannelBlocks => (C + BlockSize - 1) / BlockSize;

    /// <summary>The sizes of a tensor in a channel-blocked format.</summary>
    public static ChannelBlocking Of<T>(Tensor<T> t) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var shape = t.Shape;
        return new ChannelBlocking(shape[0], shape[1], t.Format.BlockSize(), (int)Shapes.Product(shape[2..]));
    }
}
