namespace ConvGrad.Distributed;

/// <summary>
/// The contiguous part of a batch (or of an evaluation set) that one rank processes: positions
/// <see cref="Start"/> .. <see cref="End"/> − 1 of the 1-process order. The shards of ranks 0, 1, ... follow each
/// other, so together they are the batch in the 1-process order; the first <c>total mod size</c> ranks get one more.
/// </summary>
/// <param name="Start">The first position.</param>
/// <param name="Count">The number of positions.</param>
public readonly record struct Shard(int Start, int Count)
{
    /// <summary>One past the last position.</summary>
    public int End => Start + Count;

    /// <summary>The shard of rank <paramref name="rank"/> of <paramref name="size"/> in <paramref name="total"/> positions.</summary>
    /// <exception cref="ArgumentException">A negative total, a size below 1, or a rank outside [0, size).</exception>
    /// <param name="total">The number of samples in all.</param>
    /// <param name="rank">This rank.</param>
    /// <param name="size">The number of ranks.</param>
    public static Shard Of(int total, int rank, int size)
    {
        if (total < 0 || size < 1 || rank < 0 || rank >= size)
        {
            throw new ArgumentException($"need total >= 0, size >= 1 and 0 <= rank < size; got total {total}, rank {rank}, size {size}", nameof(rank));
        }
        int baseCount = total / size, extra = total % size;
        int start = rank * baseCount + Math.Min(rank, extra);
        return new Shard(start, baseCount + (rank < extra ? 1 : 0));
    }

    /// <summary>The shard of this rank of <paramref name="communicator"/> in <paramref name="total"/> positions.</summary>
    /// <param name="total">The number of samples in all.</param>
    /// <param name="communicator">The ranks of the job.</param>
    public static Shard Of(int total, Communicator communicator)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        return Of(total, communicator.Rank, communicator.Size);
    }

    /// <summary>
    /// This shard's share of the batch, <c>Count / total</c>: the factor that turns the mean loss over the shard into
    /// its part of the mean over the batch (reduce those parts with <see cref="GradientReduction.Sum"/> when shards
    /// can be unequal).
    /// </summary>
    /// <param name="total">The number of samples in all.</param>
    public double Weight(int total) => total > 0 ? (double)Count / total : 0;
}
