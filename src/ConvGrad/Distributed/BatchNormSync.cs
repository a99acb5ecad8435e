using ConvGrad.Nn;

namespace ConvGrad.Distributed;

/// <summary>
/// Batch norm's running statistics averaged over the ranks: each rank normalised only its own shards, so after an
/// epoch the ranks' running means and variances differ slightly; averaging them gives every rank the same model.
/// </summary>
public static class BatchNormSync
{
    /// <summary>Averages the running mean and variance of every <see cref="BatchNorm2d{T}"/> in <paramref name="module"/> over the ranks (a collective).</summary>
    /// <param name="module">The model (the same architecture on every rank).</param>
    /// <param name="communicator">The ranks.</param>
    public static void Synchronize(Module<float> module, Communicator communicator)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(communicator);
        if (communicator.Size == 1)
        {
            return;
        }
        if (module is BatchNorm2d<float> bn)
        {
            communicator.AllReduceAverage(bn.RunningMean.Span);
            communicator.AllReduceAverage(bn.RunningVar.Span);
        }
        foreach (var (_, child) in module.NamedChildren())
        {
            Synchronize(child, communicator);
        }
    }
}
