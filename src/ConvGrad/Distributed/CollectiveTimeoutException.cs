namespace ConvGrad.Distributed;

/// <summary>
/// A collective did not complete within <see cref="Communicator.CollectiveTimeout"/>: a peer rank died, hangs, or the
/// network between the ranks is gone (a cut link raises no error by itself). The message is one line naming the
/// collective, the training step (<see cref="Communicator.Step"/>) and the limit, as PyTorch's process-group
/// timeout does.
/// </summary>
/// <remarks>The collective is left unfinished: the only safe continuation is to end the process (every rank does).</remarks>
public sealed class CollectiveTimeoutException : IOException
{
    /// <summary>Creates the exception for <paramref name="collective"/> at <paramref name="step"/> after <paramref name="timeout"/>.</summary>
    /// <param name="collective">The collective that did not complete, e.g. <c>MPI_Iallreduce of 53,018 floats</c>.</param>
    /// <param name="step">The training step in progress (<see cref="Communicator.Step"/>; negative: outside training).</param>
    /// <param name="timeout">The limit that ran out.</param>
    public CollectiveTimeoutException(string collective, long step, TimeSpan timeout)
        : base($"{collective} did not complete within {timeout.TotalSeconds:0.###} s {(step >= 0 ? $"at step {step}" : "outside training")}: " +
               "a rank or the network between the ranks is gone; ending the job")
    {
        Collective = collective;
        Step = step;
        Timeout = timeout;
    }

    /// <summary>The collective that did not complete.</summary>
    public string Collective { get; }

    /// <summary>The training step it belonged to (negative: outside training).</summary>
    public long Step { get; }

    /// <summary>The limit that ran out.</summary>
    public TimeSpan Timeout { get; }
}
