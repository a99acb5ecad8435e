using System.Diagnostics.CodeAnalysis;

namespace ConvGrad.Distributed;

/// <summary>
/// The communicator of a job of one rank: every reduction leaves the values as they are, a non-blocking one is
/// complete when it starts, broadcast and barrier return at once. Needs nothing installed.
/// </summary>
public sealed class SingleProcessCommunicator : Communicator
{
    /// <inheritdoc/>
    public override int Rank => 0;

    /// <inheritdoc/>
    public override int Size => 1;

    /// <inheritdoc/>
    public override int LocalRank => 0;

    /// <inheritdoc/>
    public override int LocalSize => 1;

    /// <inheritdoc/>
    public override string Description => "1 process";

    /// <inheritdoc/>
    public override void Barrier()
    {
    }

    /// <summary>Ends the process with <paramref name="exitCode"/>.</summary>
    /// <param name="exitCode">The exit code the whole job ends with.</param>
    [DoesNotReturn]
    public override void Abort(int exitCode)
    {
        Environment.Exit(exitCode);
        throw new InvalidOperationException("unreachable");
    }

    private protected override void AllReduceCore<T>(Span<T> values, ReduceOperation operation)
    {
    }

    private protected override ReduceRequest IAllReduceSumCore<T>(PinnedBuffer<T> buffer, int start, int count) => ReduceRequest.Completed();

    private protected override void BroadcastCore(Span<byte> bytes, int root)
    {
    }
}
