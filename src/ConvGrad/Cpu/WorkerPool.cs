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
/// <c>Parallel.For</c>). The caller's thread runs part 0 and the workers the rest. Because a split is a pure
/// function of (part, parts), results never depend on which thread ran what; when the pool is busy with another
/// caller's work, a call simply runs all its parts on its own thread, giving the same result.
/// </summary>
internal static class WorkerPool
{
    private const int MaxWorkers = 63;
    private static readonly object Gate = new();
    private static readonly List<Worker> Workers = [];

    /// <summary>Runs parts 0..parts-1 of <paramref name="work"/>, in parallel where the pool is free.</summary>
    public static void Run(IPartitionedWork work, int parts)
    {
        if (parts <= 1)
        {
            work.Run(0, 1);
            return;
        }
        if (parts - 1 > MaxWorkers || !Monitor.TryEnter(Gate))
        {
            for (int i = 0; i < parts; i++)
            {
                work.Run(i, parts);
            }
            return;
        }
        try
        {
            while (Workers.Count < parts - 1)
            {
                Workers.Add(new Worker(Workers.Count + 1));
            }
            for (int i = 1; i < parts; i++)
            {
                Workers[i - 1].Start(work, i, parts);
            }
            ExceptionDispatchInfo? error = null;
            try
            {
                work.Run(0, parts);
            }
            catch (Exception e)
            {
                error = ExceptionDispatchInfo.Capture(e);
            }
            for (int i = 1; i < parts; i++)
            {
                var e = Workers[i - 1].Wait();
                error ??= e;
            }
            error?.Throw();
        }
        finally
        {
            Monitor.Exit(Gate);
        }
    }

    private sealed class Worker
    {
        private readonly ManualResetEventSlim _start = new(false, spinCount: 2000);
        private readonly ManualResetEventSlim _done = new(false, spinCount: 2000);
        private IPartitionedWork? _work;
        private int _part, _parts;
        private ExceptionDispatchInfo? _error;

        public Worker(int index)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"ConvGrad worker {index}" };
            thread.Start();
        }

        public void Start(IPartitionedWork work, int part, int parts)
        {
            _work = work;
            _part = part;
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
                try
                {
                    _work!.Run(_part, _parts);
                }
                catch (Exception e)
                {
                    _error = ExceptionDispatchInfo.Capture(e);
                }
                _done.Set();
            }
        }
    }
}
