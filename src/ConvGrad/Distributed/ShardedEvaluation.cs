using ConvGrad.Data;
using ConvGrad.Nn;
using ConvGrad.Training;

namespace ConvGrad.Distributed;

/// <summary>Evaluation of a model on a set split over the ranks: each rank evaluates its shard, the counts are summed.</summary>
public static class ShardedEvaluation
{
    /// <summary>
    /// Counts of <paramref name="model"/> on <paramref name="data"/>: each rank evaluates its contiguous
    /// <see cref="Shard"/> of the set in evaluation mode, in batches of <paramref name="batchSize"/>, and the counts
    /// are summed over the ranks (a collective).
    /// </summary>
    /// <param name="model">The model (the same weights on every rank).</param>
    /// <param name="data">The set to evaluate.</param>
    /// <param name="normalization">The model's input normalisation.</param>
    /// <param name="communicator">The ranks.</param>
    /// <param name="batchSize">Images per forward pass.</param>
    public static EvaluationCounts Evaluate(Module<float> model, IImageDataset data, Normalization normalization, Communicator communicator, int batchSize = 500)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(communicator);
        var shard = Shard.Of(data.Count, communicator);
        var local = new EvaluationCounts(0, 0, 0);
        if (shard.Count > 0)
        {
            using var loader = new DataLoader(shard.Count == data.Count ? data : new DatasetSlice(data, shard.Start, shard.Count), batchSize, normalization);
            local = ClassifierTrainer.Evaluate(model, loader);
        }
        return communicator.Size == 1 ? local : local.AllReduce(communicator);
    }
}
