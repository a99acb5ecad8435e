using System.Diagnostics.CodeAnalysis;
using System.Numerics.Tensors;

namespace ConvGrad.Distributed;

/// <summary>
/// The ranks of a data-parallel job and the collective operations between them: all-reduce (blocking and
/// non-blocking), broadcast, barrier, abort. Every rank must call the same collectives in the same order.
/// </summary>
/// <remarks>
/// Two implementations: <see cref="SingleProcessCommunicator"/> (one rank; nothing to install; the default) and
/// <see cref="MpiCommunicator"/> (Open MPI, loaded on demand). Reductions take float, double, int or long.
/// Calls are made from one thread at a time (MPI_THREAD_FUNNELED: the thread that created the communicator).
/// </remarks>
public abstract class Communicator : IDisposable
{
    private TimeSpan _collectiveTimeout = Timeout.InfiniteTimeSpan;

    private protected Communicator()
    {
    }

    /// <summary>This process's rank, 0 to <see cref="Size"/> − 1.</summary>
    public abstract int Rank { get; }

    /// <summary>The number of ranks.</summary>
    public abstract int Size { get; }

    /// <summary>This process's rank among the ranks on its machine.</summary>
    public abstract int LocalRank { get; }

    /// <summary>The number of ranks on this machine.</summary>
    public abstract int LocalSize { get; }

    /// <summary>Whether this is rank 0, the one that prints and writes files.</summary>
    public bool IsRoot => Rank == 0;

    /// <summary>
    /// The accelerator this rank uses among <paramref name="deviceCount"/> on its machine: <c>LocalRank mod deviceCount</c>,
    /// so the ranks on a machine take its GPUs in turn (one each when there are as many GPUs as ranks).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="deviceCount"/> is below 1.</exception>
    /// <param name="deviceCount">The number of devices on this node.</param>
    public int DeviceIndex(int deviceCount)
    {
        if (deviceCount < 1)
        {
            throw new ArgumentException($"device count must be >= 1; got {deviceCount}", nameof(deviceCount));
        }
        return LocalRank % deviceCount;
    }

    /// <summary>
    /// How long a collective may take before it fails with <see cref="CollectiveTimeoutException"/> (like the timeout
    /// of a PyTorch process group): a dead peer or a cut link otherwise blocks every rank forever.
    /// <see cref="Timeout.InfiniteTimeSpan"/> (the default) waits forever. One process has nothing to wait for.
    /// </summary>
    /// <exception cref="ArgumentException">The value is neither positive nor infinite.</exception>
    public TimeSpan CollectiveTimeout
    {
        get => _collectiveTimeout;
        set
        {
            if (value <= TimeSpan.Zero && value != Timeout.InfiniteTimeSpan)
            {
                throw new ArgumentException($"the collective timeout must be positive or infinite; got {value}", nameof(value));
            }
            _collectiveTimeout = value;
        }
    }

    /// <summary>
    /// The training step in progress (0-based, counted over the whole run), set by the training loop so that a
    /// collective that times out names it; negative outside training (the default).
    /// </summary>
    public long Step { get; set; } = -1;

    /// <summary>What runs the job, for logs (e.g. <c>1 process</c>, <c>2 ranks (Open MPI v4.1.4)</c>).</summary>
    public abstract string Description { get; }

    /// <summary>
    /// The communicator for this process: MPI when <paramref name="distributed"/> is true (the process must have
    /// been started by <c>mpirun</c>), otherwise a single process.
    /// </summary>
    /// <param name="distributed">Whether a multi-rank run was asked for (<c>--distributed</c>).</param>
    /// <param name="mpiLibrary">Another MPI library file than <c>libmpi.so.40</c> (null: the default, or <c>$CONVGRAD_MPI_LIBRARY</c>).</param>
    /// <exception cref="MpiUnavailableException">Not started by mpirun, or Open MPI is missing or incompatible.</exception>
    public static Communicator Create(bool distributed, string? mpiLibrary = null)
    {
        if (!distributed)
        {
            return new SingleProcessCommunicator();
        }
        var launch = MpiLaunch.FromEnvironment() ?? throw new MpiUnavailableException(
            "--distributed needs a launch by Open MPI's mpirun (OMPI_COMM_WORLD_SIZE is not set), e.g. mpirun -np 2 convgrad train --distributed");
        return MpiCommunicator.Initialize(launch, mpiLibrary);
    }

    /// <summary>Replaces every element by its <paramref name="operation"/> over all ranks (in place, blocking).</summary>
    /// <exception cref="ArgumentException"><typeparamref name="T"/> is not float, double, int or long.</exception>
    /// <typeparam name="T">The element type of the values.</typeparam>
    /// <param name="values">The values; overwritten with the result on every rank.</param>
    /// <param name="operation">How values are combined.</param>
    public void AllReduce<T>(Span<T> values, ReduceOperation operation) where T : unmanaged
    {
        CheckReducible<T>();
        if (!values.IsEmpty)
        {
            AllReduceCore(values, operation);
        }
    }

    /// <summary>Replaces every element by its sum over all ranks (in place, blocking).</summary>
    /// <typeparam name="T">The element type of the values.</typeparam>
    /// <param name="values">The values; overwritten with the result on every rank.</param>
    public void AllReduceSum<T>(Span<T> values) where T : unmanaged => AllReduce(values, ReduceOperation.Sum);

    /// <summary>Replaces every element by its mean over all ranks: the sum, then divided by <see cref="Size"/>.</summary>
    /// <param name="values">The values; overwritten with the result on every rank.</param>
    public void AllReduceAverage(Span<float> values)
    {
        AllReduceSum(values);
        if (Size > 1)
        {
            TensorPrimitives.Divide(values, Size, values);
        }
    }

    /// <summary>Replaces every element by its mean over all ranks: the sum, then divided by <see cref="Size"/>.</summary>
    /// <param name="values">The values; overwritten with the result on every rank.</param>
    public void AllReduceAverage(Span<double> values)
    {
        AllReduceSum(values);
        if (Size > 1)
        {
            TensorPrimitives.Divide(values, Size, values);
        }
    }

    /// <summary>The sum of <paramref name="value"/> over all ranks (e.g. a count of correct predictions).</summary>
    /// <param name="value">This rank's value.</param>
    public long AllReduceSum(long value)
    {
        Span<long> one = [value];
        AllReduceSum(one);
        return one[0];
    }

    /// <summary>The sum of <paramref name="value"/> over all ranks (e.g. a loss sum).</summary>
    /// <param name="value">This rank's value.</param>
    public double AllReduceSum(double value)
    {
        Span<double> one = [value];
        AllReduceSum(one);
        return one[0];
    }

    /// <summary>
    /// Starts summing elements <paramref name="start"/> .. <paramref name="start"/> + <paramref name="count"/> − 1 of
    /// <paramref name="buffer"/> over all ranks, in place, and returns at once. The buffer's range must not be
    /// touched until the returned request completes.
    /// </summary>
    /// <exception cref="ArgumentException">The range lies outside the buffer, or the type is not reducible.</exception>
    /// <typeparam name="T">The element type of the values.</typeparam>
    /// <param name="buffer">The pinned buffer holding the values; it must stay untouched until the request completes.</param>
    /// <param name="start">The first element to reduce.</param>
    /// <param name="count">The number of elements to reduce.</param>
    public ReduceRequest IAllReduceSum<T>(PinnedBuffer<T> buffer, int start, int count) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(buffer);
        CheckReducible<T>();
        if (start < 0 || count < 0 || start > buffer.Length - count)
        {
            throw new ArgumentException($"range start {start}, count {count} lies outside the buffer of {buffer.Length}", nameof(count));
        }
        return count == 0 ? ReduceRequest.Completed() : IAllReduceSumCore(buffer, start, count);
    }

    /// <summary>Copies <paramref name="values"/> of rank <paramref name="root"/> to every rank.</summary>
    /// <exception cref="ArgumentException"><paramref name="root"/> is not a rank.</exception>
    /// <typeparam name="T">The element type of the values.</typeparam>
    /// <param name="values">The values: read on the root, overwritten on every other rank.</param>
    /// <param name="root">The rank whose values every rank receives.</param>
    public void Broadcast<T>(Span<T> values, int root) where T : unmanaged
    {
        if (root < 0 || root >= Size)
        {
            throw new ArgumentException($"root must be a rank in [0, {Size}); got {root}", nameof(root));
        }
        if (!values.IsEmpty)
        {
            BroadcastCore(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values), root);
        }
    }

    /// <summary>Returns when every rank has called it.</summary>
    public abstract void Barrier();

    /// <summary>Ends every rank of the job at once with <paramref name="exitCode"/> (a rank that cannot go on).</summary>
    /// <param name="exitCode">The exit code the whole job ends with.</param>
    [DoesNotReturn]
    public abstract void Abort(int exitCode);

    /// <summary>Releases the communicator (MPI: <c>MPI_Finalize</c>).</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases native resources when <paramref name="disposing"/> or from a finalizer.</summary>
    /// <param name="disposing">True from <see cref="Dispose()"/>, false from a finalizer.</param>
    protected virtual void Dispose(bool disposing)
    {
    }

    private protected abstract void AllReduceCore<T>(Span<T> values, ReduceOperation operation) where T : unmanaged;

    private protected abstract ReduceRequest IAllReduceSumCore<T>(PinnedBuffer<T> buffer, int start, int count) where T : unmanaged;

    private protected abstract void BroadcastCore(Span<byte> bytes, int root);

    private static void CheckReducible<T>()
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double) && typeof(T) != typeof(int) && typeof(T) != typeof(long))
        {
            throw new ArgumentException($"reductions take float, double, int or long; got {typeof(T).Name}", nameof(T));
        }
    }
}
