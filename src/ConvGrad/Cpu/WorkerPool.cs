using System.Runtime.ExceptionServices;

namespace ConvGrad.Cpu;

/// <summary>A piece of work split statically into <c>parts</c> parts; part <c>i</c> must depend only on (i, parts) and the inputs.</summary>
internal interface IPartitionedWork
{
    /// <summary>Runs part <paramref name="part"/> of <paramref name="parts"/>.</summary>
    void Run(int part, int parts);
}

/// <summary>
/// Persistent worker threads for static splits (no per-call thread start-up and no dynamic chunking, unlike
/// <c>Parallel.For</c>). A call with <c>parts</c> parts uses <c>t = min(parts, </c><see cref="MaxThreads"/><c>)</c>
/// threads: the caller's thread and <c>t − 1</c> workers; thread <c>j</c> runs parts <c>j, j + t, j + 2t, …</c>.
/// Because a split is a pure function of (part, parts), results never depend on which thread ran what, nor on
/// how many threads there were; when the pool is busy with another caller's work, a call simply runs all its parts
/// on its own thread, giving the same result.
/// </summary>
internal static class WorkerPool
{
    /// <summary>The most threads one call runs on (the caller plus <c>MaxThreads − 1</c> workers); see <see cref="ConvOptions.MaxThreads"/>.</summary>
    public const int MaxThreads = ConvOptions.MaxThreads;

    private static readonly object Gate = new();
    private static readonly List<Worker> Workers = [];

    [ThreadStatic]
    private static int t_lastThreads;

    /// <summary>How many threads the calling thread's last <see cref="Run(IPartitionedWork, int)"/> used (1 when it ran inline); for tests and reports.</summary>
    public static int LastRunThreads => t_lastThreads;

    /// <summary>Runs parts 0..parts-1 of <paramref name="work"/>, in parallel where the pool is free; returns the threads used.</summary>
    public static int Run(IPartitionedWork work, int parts) => Run(work, parts, MaxThreads);

    /// <summary>
    /// <see cref="Run(IPartitionedWork, int)"/> on at most <paramref name="maxThreads"/> threads (tests use a small
    /// maximum to exercise more parts than threads without starting a thousand workers).
    /// </summary>
    internal static int Run(IPartitionedWork work, int parts, int maxThreads)
    {
        if (parts <= 1)
        {
            t_lastThreads = 1;
            work.Run(0, 1);
            return 1;
        }
        if (!Monitor.TryEnter(Gate))
        {
            t_lastThreads = 1;
            for (int i = 0; i < parts; i++)
            {
                work.Run(i, parts);
            }
            return 1;
        }
        int threads = Math.Clamp(Math.Min(parts, maxThreads), 1, MaxThreads);
        try
        {
            while (Workers.Count < threads - 1)
            {
                Workers.Add(new Worker(Workers.Count + 1));
            }
            for (int j = 1; j < threads; j++)
            {
                Workers[j - 1].Start(work, j, threads, parts);
            }
            ExceptionDispatchInfo? error = RunStrided(work, 0, threads, parts);
            for (int j = 1; j < threads; j++)
            {
                var e = Workers[j - 1].Wait();
                error ??= e;
            }
            t_lastThreads = threads;
            error?.Throw();
            return threads;
        }
        finally
        {
            Monitor.Exit(Gate);
        }
    }

    /// <summary>Runs parts <paramref name="first"/>, first + stride, … of <paramref name="parts"/>; returns the first error.</summary>
    private static ExceptionDispatchInfo? RunStrided(IPartitionedWork work, int first, int stride, int parts)
    {
        try
        {
            for (int i = first; i < parts; i += stride)
            {
                work.Run(i, parts);
            }
            return null;
        }
        catch (Exception e)
        {
            return ExceptionDispatchInfo.Capture(e);
        }
    }

    private sealed class Worker
    {
        private readonly ManualResetEventSlim _start = new(false, spinCount: 2000);
        private readonly ManualResetEventSlim _done = new(false, spinCount: 2000);
        private IPartitionedWork? _work;
        private int _first, _stride, _parts;
        private ExceptionDispatchInfo? _error;

        public Worker(int index)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"ConvGrad worker {index}" };
            thread.Start();
        }

        public void Start(IPartitionedWork work, int first, int stride, int parts)
        {
            _work = work;
            _first = first;
            _stride = stride;
            _parts = parts;
            _error = null;
            _done.Reset();
            _start.Set();
        }

        public ExceptionDispatchInfo? Wait()
        {
            _done.Wait();
            _work = null;
            return _error;
        }

        private void Loop()
        {
            while (true)
            {
                _start.Wait();
                _start.Reset();
                _error = RunStrided(_work!, _first, _stride, _parts);
                _done.Set();
            }
        }
    }
}
