using ConvGrad.Distributed;

namespace ConvGrad.Tests.Distributed;

/// <summary>
/// A communicator of <see cref="Size"/> ranks in one process, for testing what is built on communicators: every
/// other rank is taken to hold the same values as this one, so a sum is the value times the size, added one rank
/// at a time; it records the length of every non-blocking reduction in the order they started, and completes them
/// only when polled <see cref="PollsToComplete"/> times or waited on.
/// </summary>
internal sealed class LoopbackCommunicator(int size) : Communicator
{
    public List<int> Started { get; } = [];

    public int PollsToComplete { get; init; } = 2;

    public int RankValue { get; init; }

    public override int Rank => RankValue;

    public override int Size => size;

    public int LocalRankValue { get; init; }

    public override int LocalRank => LocalRankValue;

    public override int LocalSize => size;

    public override string Description => $"{size} loopback ranks";

    public override void Barrier()
    {
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public override void Abort(int exitCode) => throw new InvalidOperationException($"abort {exitCode}");

    private protected override void AllReduceCore<T>(Span<T> values, ReduceOperation operation)
    {
        if (operation == ReduceOperation.Sum)
        {
            Sum(values);
        }
    }

    private protected override ReduceRequest IAllReduceSumCore<T>(PinnedBuffer<T> buffer, int start, int count)
    {
        Started.Add(count);
        return new Request(() => Sum(buffer.Span.Slice(start, count)), PollsToComplete);
    }

    private protected override void BroadcastCore(Span<byte> bytes, int root)
    {
    }

    private void Sum<T>(Span<T> values) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            AddCopies(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(values));
        }
        else if (typeof(T) == typeof(double))
        {
            AddCopies(System.Runtime.InteropServices.MemoryMarshal.Cast<T, double>(values));
        }
        else if (typeof(T) == typeof(long))
        {
            AddCopies(System.Runtime.InteropServices.MemoryMarshal.Cast<T, long>(values));
        }
        else
        {
            throw new NotSupportedException(typeof(T).Name);
        }
    }

    /// <summary>x + x + ... (size terms), added one rank at a time as a reduction over equal ranks would.</summary>
    private void AddCopies<TNumber>(Span<TNumber> values) where TNumber : System.Numerics.INumber<TNumber>
    {
        for (int i = 0; i < values.Length; i++)
        {
            TNumber x = values[i], s = x;
            for (int r = 1; r < size; r++)
            {
                s += x;
            }
            values[i] = s;
        }
    }

    private sealed class Request(Action reduce, int polls) : ReduceRequest
    {
        private int _polls = polls;
        private bool _done;

        private protected override void WaitCore() => Run();

        private protected override bool TestCore()
        {
            if (--_polls <= 0)
            {
                Run();
            }
            return _done;
        }

        private void Run()
        {
            if (!_done)
            {
                reduce();
                _done = true;
            }
        }
    }
}
