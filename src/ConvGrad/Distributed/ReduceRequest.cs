namespace ConvGrad.Distributed;

/// <summary>
/// A non-blocking all-reduce in flight (<see cref="Communicator.IAllReduceSum{T}"/>). Its buffer must stay
/// untouched until <see cref="Wait"/> returns or <see cref="Test"/> returns true.
/// </summary>
public abstract class ReduceRequest
{
    private protected ReduceRequest()
    {
    }

    /// <summary>Whether the reduction has completed (the buffer holds the result).</summary>
    public bool IsCompleted { get; private set; }

    /// <summary>Blocks until the reduction has completed; returns at once if it has.</summary>
    public void Wait()
    {
        if (!IsCompleted)
        {
            WaitCore();
            IsCompleted = true;
        }
    }

    /// <summary>
    /// Whether the reduction has completed, without blocking. Each call also lets MPI progress the operation, so
    /// calling it between pieces of work is what moves a reduction forward while the work runs.
    /// </summary>
    public bool Test()
    {
        if (!IsCompleted && TestCore())
        {
            IsCompleted = true;
        }
        return IsCompleted;
    }

    /// <summary>Blocks until completion (called once, only when not completed).</summary>
    private protected abstract void WaitCore();

    /// <summary>Polls for completion (called only when not completed).</summary>
    private protected abstract bool TestCore();

    /// <summary>A request that completed when it was made (one process has nothing to exchange).</summary>
    internal static ReduceRequest Completed() => new CompletedRequest();

    private sealed class CompletedRequest : ReduceRequest
    {
        public CompletedRequest() => IsCompleted = true;

        private protected override void WaitCore()
        {
        }

        private protected override bool TestCore() => true;
    }
}
