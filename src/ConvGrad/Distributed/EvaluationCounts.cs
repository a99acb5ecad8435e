namespace ConvGrad.Distributed;

/// <summary>
/// What one rank's shard of an evaluation set adds up to; <see cref="AllReduce"/> turns the shards' counts into the
/// whole set's. Counts are integers and so exact; the loss sum is a double summed once per rank.
/// </summary>
/// <param name="Correct">Correct predictions.</param>
/// <param name="Total">Samples evaluated.</param>
/// <param name="LossSum">The sum of the per-sample losses.</param>
public readonly record struct EvaluationCounts(long Correct, long Total, double LossSum)
{
    /// <summary>Correct ÷ total (0 for an empty set).</summary>
    public double Accuracy => Total > 0 ? (double)Correct / Total : 0;

    /// <summary>The mean loss (0 for an empty set).</summary>
    public double MeanLoss => Total > 0 ? LossSum / Total : 0;

    /// <summary>The counts summed over every rank of <paramref name="communicator"/> (a collective: every rank calls it).</summary>
    /// <param name="communicator">The ranks whose counts are summed.</param>
    public EvaluationCounts AllReduce(Communicator communicator)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        Span<long> counts = [Correct, Total];
        communicator.AllReduceSum(counts);
        return new EvaluationCounts(counts[0], counts[1], communicator.AllReduceSum(LossSum));
    }
}
