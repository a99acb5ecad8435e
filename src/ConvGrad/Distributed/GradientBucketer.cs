using System.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;

namespace ConvGrad.Distributed;

/// <summary>Gives the span a gradient's reduced value is copied back into (e.g. <c>i =&gt; parameters[i].Grad.Span</c>).</summary>
/// <typeparam name="T">float or double.</typeparam>
/// <param name="index">The gradient's registration index.</param>
public delegate Span<T> GradientDestination<T>(int index);

/// <summary>
/// Averages gradients over the ranks of a data-parallel job in buckets that start reducing while backward is
/// still running, as PyTorch's DistributedDataParallel does.
/// </summary>
/// <remarks>
/// <para>Gradients are registered once, in parameter order (index 0 = first layer). Buckets are filled in reverse
/// registration order, the order backward produces gradients, and close when they reach the bucket size. The layout
/// depends only on the gradient lengths and the bucket size, so it is the same on every rank and in every run.</para>
/// <para>Per step: <see cref="MarkReady"/> each gradient as backward produces it (it is copied into its bucket's
/// pinned buffer); a bucket whose gradients are all marked starts a non-blocking all-reduce — always in bucket
/// order, so every rank issues the same collectives in the same order. <see cref="Finish"/> waits for all buckets,
/// divides by the number of ranks (<see cref="GradientReduction.Average"/>) and copies the results back.</para>
/// <para>Determinism: the bucket layout and the order of collectives are fixed, and MPI's reduction for a given
/// count, rank count and transport is a fixed sequence of operations, so two runs with the same ranks give bitwise
/// identical gradients. With 2 ranks each element is <c>(g₀ + g₁) / 2</c> rounded once per operation.</para>
/// <para>Open MPI progresses a non-blocking collective when MPI is called: every <see cref="MarkReady"/> polls the
/// buckets in flight, and a trainer may call <see cref="Progress"/> between layers.</para>
/// </remarks>
/// <typeparam name="T">float or double.</typeparam>
public sealed class GradientBucketer<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>PyTorch DDP's default bucket size, 25 MiB.</summary>
    public const long DefaultBucketBytes = 25L << 20;

    private readonly Communicator _comm;
    private readonly GradientReduction _reduction;
    private readonly int[] _lengths;
    private readonly int[] _bucketOf;
    private readonly int[] _offset;
    private readonly Bucket[] _buckets;
    private readonly bool[] _marked;
    private int _nextToStart;
    private long _steps, _reductions;
    private long _inFlightTicks, _waitTicks;

    /// <summary>Lays out the buckets for gradients of the given lengths.</summary>
    /// <param name="communicator">The job's ranks.</param>
    /// <param name="gradientLengths">Elements of each gradient, in parameter (registration) order.</param>
    /// <param name="bucketBytes">Bytes at which a bucket closes (a larger gradient gets a bucket of its own).</param>
    /// <param name="reduction">Average (the default) or sum over ranks.</param>
    /// <exception cref="ArgumentException">A length is negative, or the bucket size is not positive.</exception>
    public GradientBucketer(Communicator communicator, IReadOnlyList<int> gradientLengths, long bucketBytes = DefaultBucketBytes,
        GradientReduction reduction = GradientReduction.Average)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        ArgumentNullException.ThrowIfNull(gradientLengths);
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
        {
            throw new ArgumentException($"gradients are float or double; got {typeof(T).Name}", nameof(T));
        }
        if (bucketBytes <= 0)
        {
            throw new ArgumentException($"bucket size must be > 0 bytes; got {bucketBytes}", nameof(bucketBytes));
        }
        if (gradientLengths.Any(n => n < 0))
        {
            throw new ArgumentException($"gradient lengths must be >= 0; got {string.Join(", ", gradientLengths)}", nameof(gradientLengths));
        }
        _comm = communicator;
        _reduction = reduction;
        _lengths = gradientLengths.ToArray();
        _bucketOf = new int[_lengths.Length];
        _offset = new int[_lengths.Length];
        _marked = new bool[_lengths.Length];
        int elementSize = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        long capacity = Math.Max(1, bucketBytes / elementSize);

        var members = new List<List<int>>();
        var current = new List<int>();
        long filled = 0;
        for (int i = _lengths.Length - 1; i >= 0; i--)
        {
            if (current.Count > 0 && (filled >= capacity || filled + _lengths[i] > int.MaxValue / 2))
            {
                members.Add(current);
                current = [];
                filled = 0;
            }
            _bucketOf[i] = members.Count;
            _offset[i] = (int)filled;
            current.Add(i);
            filled += _lengths[i];
        }
        if (current.Count > 0)
        {
            members.Add(current);
        }
        _buckets = members.Select(m => new Bucket(m.ToArray(), m.Sum(i => _lengths[i]))).ToArray();
    }

    /// <summary>The number of buckets.</summary>
    public int BucketCount => _buckets.Length;

    /// <summary>The bucket gradient <paramref name="index"/> belongs to (bucket 0 holds the last parameters).</summary>
    /// <param name="index">The parameter, by position in the model's parameter list.</param>
    public int BucketOf(int index) => _bucketOf[index];

    /// <summary>The gradient indices of bucket <paramref name="bucket"/>, in their order inside it.</summary>
    /// <param name="bucket">The bucket number.</param>
    public IReadOnlyList<int> BucketMembers(int bucket) => _buckets[bucket].Members;

    /// <summary>The elements of bucket <paramref name="bucket"/>.</summary>
    /// <param name="bucket">The bucket number.</param>
    public int BucketLength(int bucket) => _buckets[bucket].Buffer.Length;

    /// <summary>Whether gradient <paramref name="index"/> was marked ready in the current step.</summary>
    /// <param name="index">The gradient's position in the order the bucketer was built with.</param>
    public bool IsReady(int index) => _marked[index];

    /// <summary>Overlap measured since construction or <see cref="ResetStats"/>.</summary>
    public OverlapStats Stats => new(_steps, _reductions,
        (double)_inFlightTicks / Stopwatch.Frequency, (double)_waitTicks / Stopwatch.Frequency);

    /// <summary>Clears <see cref="Stats"/> (e.g. after warm-up steps).</summary>
    public void ResetStats() => (_steps, _reductions, _inFlightTicks, _waitTicks) = (0, 0, 0, 0);

    /// <summary>
    /// Copies gradient <paramref name="index"/> (computed by this step's backward) into its bucket; starts the bucket's
    /// all-reduce, and any later buckets waiting on it, once all their gradients are marked.
    /// </summary>
    /// <exception cref="ArgumentException">The index is out of range or the length differs from the registered one.</exception>
    /// <exception cref="InvalidOperationException">The gradient was already marked in this step.</exception>
    /// <param name="index">The parameter, by position in the model's parameter list.</param>
    /// <param name="gradient">The parameter's gradient, complete for this step.</param>
    public void MarkReady(int index, ReadOnlySpan<T> gradient)
    {
        if ((uint)index >= (uint)_lengths.Length)
        {
            throw new ArgumentException($"gradient index must be in [0, {_lengths.Length}); got {index}", nameof(index));
        }
        if (gradient.Length != _lengths[index])
        {
            throw new ArgumentException($"gradient {index} has {gradient.Length} elements; it was registered with {_lengths[index]}", nameof(gradient));
        }
        if (_marked[index])
        {
            throw new InvalidOperationException($"gradient {index} was already marked ready in this step; call Finish before the next step");
        }
        _marked[index] = true;
        var bucket = _buckets[_bucketOf[index]];
        gradient.CopyTo(bucket.Buffer.Span.Slice(_offset[index], gradient.Length));
        bucket.Pending--;
        while (_nextToStart < _buckets.Length && _buckets[_nextToStart].Pending == 0)
        {
            Start(_buckets[_nextToStart++]);
        }
        Progress();
    }

    /// <summary>Lets MPI move the reductions in flight forward (a poll of each; never blocks).</summary>
    public void Progress()
    {
        for (int b = 0; b < _nextToStart; b++)
        {
            Poll(_buckets[b]);
        }
    }

    /// <summary>
    /// Waits for every bucket, turns sums into means (<see cref="GradientReduction.Average"/>), copies each gradient
    /// back through <paramref name="destination"/>, and readies the bucketer for the next step.
    /// </summary>
    /// <exception cref="InvalidOperationException">A gradient was not marked ready in this step (named in the message).</exception>
    /// <param name="destination">Receives each averaged gradient.</param>
    public void Finish(GradientDestination<T> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (_nextToStart < _buckets.Length)
        {
            var missing = Enumerable.Range(0, _marked.Length).Where(i => !_marked[i]).ToList();
            throw new InvalidOperationException(
                $"Finish called before every gradient was marked ready; missing: {string.Join(", ", missing.Take(10))}{(missing.Count > 10 ? ", ..." : "")}");
        }
        T size = T.CreateChecked(_comm.Size);
        foreach (var bucket in _buckets)
        {
            if (!bucket.Done)
            {
                long t0 = Stopwatch.GetTimestamp();
                bucket.Request!.Wait();
                long t1 = Stopwatch.GetTimestamp();
                _waitTicks += t1 - t0;
                Complete(bucket, t1);
            }
            var span = bucket.Buffer.Span;
            if (_reduction == GradientReduction.Average && _comm.Size > 1)
            {
                TensorPrimitives.Divide(span, size, span);
            }
            foreach (int i in bucket.Members)
            {
                var target = destination(i);
                if (target.Length != _lengths[i])
                {
                    throw new ArgumentException($"destination of gradient {i} has {target.Length} elements; it was registered with {_lengths[i]}", nameof(destination));
                }
                span.Slice(_offset[i], _lengths[i]).CopyTo(target);
            }
        }
        foreach (var bucket in _buckets)
        {
            bucket.Reset();
        }
        Array.Clear(_marked);
        _nextToStart = 0;
        _steps++;
    }

    /// <summary>Waits for reductions still in flight and frees the bucket buffers.</summary>
    public void Dispose()
    {
        foreach (var bucket in _buckets)
        {
            if (bucket.Request is { IsCompleted: false } r)
            {
                r.Wait();
            }
            bucket.Buffer.Dispose();
        }
    }

    private void Start(Bucket bucket)
    {
        bucket.Started = Stopwatch.GetTimestamp();
        bucket.Request = _comm.IAllReduceSum(bucket.Buffer, 0, bucket.Buffer.Length);
        _reductions++;
    }

    private void Poll(Bucket bucket)
    {
        if (!bucket.Done && bucket.Request!.Test())
        {
            Complete(bucket, Stopwatch.GetTimestamp());
        }
    }

    private void Complete(Bucket bucket, long now)
    {
        bucket.Done = true;
        _inFlightTicks += now - bucket.Started;
    }

    private sealed class Bucket(int[] members, int length)
    {
        public readonly int[] Members = members;
        public readonly PinnedBuffer<T> Buffer = new(length);
        public int Pending = members.Length;
        public ReduceRequest? Request;
        public long Started;
        public bool Done;

        public void Reset()
        {
            Pending = Members.Length;
            Request = null;
            Done = false;
        }
    }
}
