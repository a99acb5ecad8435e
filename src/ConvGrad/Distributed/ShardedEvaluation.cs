using ConvGrad.Data;
using ConvGrad.Nn;
using ConvGrad.Training;

namespace ConvGrad.Distributed;

/// <summary>Evaluation of a model on a set split over the ranks: each rank evaluates its shard, the counts are summed.</summary>
public static class ShardedEvaluation
{
    /// <summary>
    /// Held-out counts of <paramref name="model"/> on <paramref name="data"/>: each rank evaluates its
    /// <see cref="Shard"/> of the set in evaluation mode, and the counts are summed over the ranks (a collective).
    /// </summary>
    /// <param name="model">The model (the same weights on every rank).</param>
    /// <param name="data">The set to evaluate.</param>
    /// <param name="communicator">The ranks.</param>
    public static EvaluationCounts Evaluate(Module<float> model, MnistSet data, Communicator communicator)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(communicator);
        if (communicator.Size == 1)
        {
            var (loss, acc) = ClassifierTrainer<float>.Evaluate(model, data);
            return new EvaluationCounts((long)Math.Round(acc * data.Count), data.Count, loss * data.Count);
        }
        var shard = Shard.Of(data.Count, communicator);
        var local = new EvaluationCounts(0, shard.Count, 0);
        if (shard.Count > 0)
        {
            var (loss, acc) = ClassifierTrainer<float>.Evaluate(model, data.Slice(shard.Start, shard.Count));
            local = new EvaluationCounts((long)Math.Round(acc * shard.Count), shard.Count, loss * shard.Count);
        }
        return local.AllReduce(communicator);
    }
}
