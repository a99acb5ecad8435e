using System.Diagnostics.CodeAnalysis;

namespace ConvGrad.Distributed;

/// <summary>
/// The ranks of an Open MPI job (<c>MPI_COMM_WORLD</c>), called through <c>libmpi.so.40</c> loaded on demand.
/// <see cref="Initialize"/> calls <c>MPI_Init_thread</c> (funneled: MPI is called from one thread);
/// <see cref="Communicator.Dispose()"/> calls <c>MPI_Finalize</c>. MPI can be initialised once per process.
/// </summary>
/// <remarks>
/// Errors on the communicator return codes (<c>MPI_ERRORS_RETURN</c>) that become <see cref="MpiException"/>.
/// A rank that dies makes <c>mpirun</c> end the whole job with a non-zero exit.
/// </remarks>
public sealed unsafe class MpiCommunicator : Communicator
{
    private static int s_initialized;
    private readonly MpiNative _mpi;
    private bool _finalized;

    private MpiCommunicator(MpiNative mpi, int rank, int size, MpiLaunch? launch)
    {
        _mpi = mpi;
        Rank = rank;
        Size = size;
        LocalRank = launch?.LocalRank ?? 0;
        LocalSize = launch?.LocalSize ?? 1;
    }

    /// <inheritdoc/>
    public override int Rank { get; }

    /// <inheritdoc/>
    public override int Size { get; }

    /// <inheritdoc/>
    public override int LocalRank { get; }

    /// <inheritdoc/>
    public override int LocalSize { get; }

    /// <inheritdoc/>
    public override string Description => $"{Size} rank{(Size == 1 ? "" : "s")} ({_mpi.LibraryVersion})";

    /// <summary>
    /// Loads Open MPI and initialises it for this process.
    /// </summary>
    /// <param name="launch">The launch read from mpirun's environment (local rank and size); null: take them as 0 and 1.</param>
    /// <param name="library">The library file (null: <c>$CONVGRAD_MPI_LIBRARY</c>, else <c>libmpi.so.40</c>).</param>
    /// <exception cref="MpiUnavailableException">Open MPI is missing or incompatible, or MPI was already initialised in this process.</exception>
    public static MpiCommunicator Initialize(MpiLaunch? launch = null, string? library = null)
    {
        var mpi = MpiNative.Load(library);
        if (Interlocked.Exchange(ref s_initialized, 1) != 0)
        {
            throw new MpiUnavailableException("MPI is already initialised in this process; create one MpiCommunicator per process");
        }
        int provided;
        mpi.Check(mpi.InitThread(null, null, MpiNative.ThreadFunneled, &provided), "MPI_Init_thread");
        if (provided < MpiNative.ThreadFunneled)
        {
            mpi.Finalize();
            throw new MpiUnavailableException($"{mpi.LibraryVersion} gives thread level {provided}; ConvGrad needs MPI_THREAD_FUNNELED (1)");
        }
        mpi.Check(mpi.CommSetErrhandler(mpi.CommWorld, mpi.ErrorsReturn), "MPI_Comm_set_errhandler");
        int rank, size;
        mpi.Check(mpi.CommRank(mpi.CommWorld, &rank), "MPI_Comm_rank");
        mpi.Check(mpi.CommSize(mpi.CommWorld, &size), "MPI_Comm_size");
        if (launch is not null && (launch.Rank != rank || launch.Size != size))
        {
            throw new MpiUnavailableException(
                $"mpirun's environment says rank {launch.Rank} of {launch.Size} but MPI_COMM_WORLD says {rank} of {size}; was the job started by another MPI's launcher?");
        }
        return new MpiCommunicator(mpi, rank, size, launch);
    }

    /// <inheritdoc/>
    public override void Barrier()
    {
        ThrowIfFinalized();
        if (CollectiveTimeout == Timeout.InfiniteTimeSpan)
        {
            _mpi.Check(_mpi.Barrier(_mpi.CommWorld), "MPI_Barrier");
            return;
        }
        nint handle;
        _mpi.Check(_mpi.Ibarrier(_mpi.CommWorld, &handle), "MPI_Ibarrier");
        Complete(ref handle, "MPI_Ibarrier");
    }

    /// <summary>Calls <c>MPI_Abort</c>: mpirun ends every rank; this process exits with <paramref name="exitCode"/>.</summary>
    /// <param name="exitCode">The exit code the whole job ends with.</param>
    [DoesNotReturn]
    public override void Abort(int exitCode)
    {
        _mpi.Abort(_mpi.CommWorld, exitCode);
        Environment.Exit(exitCode);
        throw new InvalidOperationException("unreachable");
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (!_finalized)
        {
            _finalized = true;
            int done;
            if (_mpi.Finalized(&done) == MpiNative.Success && done == 0)
            {
                _mpi.Finalize();
            }
        }
    }

    private protected override void AllReduceCore<T>(Span<T> values, ReduceOperation operation)
    {
        ThrowIfFinalized();
        nint type = _mpi.Datatype<T>(), op = _mpi.Operation(operation);
        fixed (T* p = values)
        {
            if (CollectiveTimeout == Timeout.InfiniteTimeSpan)
            {
                _mpi.Check(_mpi.Allreduce(MpiNative.InPlace, p, values.Length, type, op, _mpi.CommWorld), "MPI_Allreduce");
                return;
            }
            // With a time limit: the non-blocking form, polled until it completes or the limit runs out.
            nint handle;
            _mpi.Check(_mpi.Iallreduce(MpiNative.InPlace, p, values.Length, type, op, _mpi.CommWorld, &handle), "MPI_Iallreduce");
            Complete(ref handle, Describe<T>("MPI_Iallreduce", values.Length));
        }
    }

    private protected override ReduceRequest IAllReduceSumCore<T>(PinnedBuffer<T> buffer, int start, int count)
    {
        ThrowIfFinalized();
        var request = new MpiRequest(this, buffer, Describe<T>("MPI_Iallreduce", count));
        nint handle;
        _mpi.Check(_mpi.Iallreduce(MpiNative.InPlace, buffer.Pointer + start, count, _mpi.Datatype<T>(), _mpi.OpSum, _mpi.CommWorld, &handle), "MPI_Iallreduce");
        request.Handle = handle;
        return request;
    }

    private protected override void BroadcastCore(Span<byte> bytes, int root)
    {
        ThrowIfFinalized();
        const int chunk = 1 << 30;
        fixed (byte* p = bytes)
        {
            for (int offset = 0; offset < bytes.Length; offset += chunk)
            {
                int n = Math.Min(chunk, bytes.Length - offset);
                if (CollectiveTimeout == Timeout.InfiniteTimeSpan)
                {
                    _mpi.Check(_mpi.Bcast(p + offset, n, _mpi.Byte, root, _mpi.CommWorld), "MPI_Bcast");
                    continue;
                }
                nint handle;
                _mpi.Check(_mpi.Ibcast(p + offset, n, _mpi.Byte, root, _mpi.CommWorld, &handle), "MPI_Ibcast");
                Complete(ref handle, $"MPI_Ibcast of {n:N0} bytes from rank {root}");
            }
        }
    }

    private void ThrowIfFinalized() => ObjectDisposedException.ThrowIf(_finalized, this);

    private static string Describe<T>(string call, int count) =>
        $"{call} of {count.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} {(typeof(T) == typeof(float) ? "float" : typeof(T) == typeof(double) ? "double" : typeof(T) == typeof(int) ? "int" : "long")}s";

    /// <summary>
    /// Polls the request <paramref name="handle"/> (<c>MPI_Test</c>, which also progresses it) until it completes, or
    /// throws <see cref="CollectiveTimeoutException"/> once <see cref="Communicator.CollectiveTimeout"/> has passed.
    /// MPI_Wait busy-polls the same way; after the first polls each one yields the core to other work.
    /// </summary>
    private void Complete(ref nint handle, string collective)
    {
        var timeout = CollectiveTimeout;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        for (int polls = 0; ; polls++)
        {
            nint h = handle;
            int flag;
            _mpi.Check(_mpi.Test(&h, &flag, null), "MPI_Test");
            handle = h;
            if (flag != 0)
            {
                return;
            }
            if (timeout != Timeout.InfiniteTimeSpan && System.Diagnostics.Stopwatch.GetElapsedTime(started) > timeout)
            {
                throw new CollectiveTimeoutException(collective, Step, timeout);
            }
            if (polls >= 64)
            {
                Thread.Yield();
            }
        }
    }

    /// <summary>An <c>MPI_Request</c> of <c>MPI_Iallreduce</c>; holds its buffer so it outlives the operation.</summary>
    private sealed class MpiRequest(MpiCommunicator owner, object buffer, string collective) : ReduceRequest
    {
        public nint Handle;

        // Referenced so the buffer is not collected (and freed by its finalizer) while MPI still writes it.
        private object? _buffer = buffer;

        private protected override void WaitCore()
        {
            if (owner.CollectiveTimeout == Timeout.InfiniteTimeSpan)
            {
                nint h = Handle;
                owner._mpi.Check(owner._mpi.Wait(&h, null), "MPI_Wait");
                Handle = h;
            }
            else
            {
                owner.Complete(ref Handle, collective);
            }
            _buffer = null;
        }

        private protected override bool TestCore()
        {
            nint h = Handle;
            int flag;
            owner._mpi.Check(owner._mpi.Test(&h, &flag, null), "MPI_Test");
            Handle = h;
            if (flag != 0)
            {
                _buffer = null;
            }
            return flag != 0;
        }
    }
}
