namespace ConvGrad.Autograd;

/// <summary>
/// How a channel-blocked variable's storage <c>[N, ⌈C/B⌉, spatial..., B]</c> maps to its logical shape
/// <c>[N, C, spatial...]</c> (the layout of <see cref="BlockedTensor"/>); the channels past C are zero.
/// </summary>
/// <param name="BlockSize">Channels per block, B (8 or 16).</param>
/// <param name="LogicalShape">The NCHW shape the storage stands for.</param>
/// <param name="Threads">
/// Threads the element-wise blocked ops (reorders, batch norm) may use on this activation: the thread count of the
/// layer that made it (its <see cref="ConvOptions.EffectiveThreads"/>), so <c>--threads 1</c> means one thread throughout.
/// </param>
internal sealed record ActivationBlocking(int BlockSize, int[] LogicalShape, int Threads)
{
    /// <summary>N.</summary>
    public int N => LogicalShape[0];

    /// <summary>C.</summary>
    public int C => LogicalShape[1];

    /// <summary>⌈C/B⌉.</summary>
    public int ChannelBlocks => (C + BlockSize - 1) / BlockSize;

    /// <summary>The product of the spatial sizes.</summary>
    public int Spatial => (int)Shapes.Product(LogicalShape.AsSpan(2));

    /// <summary>The storage shape <c>[N, ⌈C/B⌉, spatial..., B]</c>.</summary>
    public int[] StorageShape => [N, ChannelBlocks, .. LogicalShape.AsSpan(2), BlockSize];

    /// <summary>The same blocking for another logical shape.</summary>
    public ActivationBlocking With(params int[] logicalShape) => new(BlockSize, logicalShape, Threads);
}
