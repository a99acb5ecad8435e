using System.Diagnostics;
using ConvGrad.Training;

namespace ConvGrad.Autograd;

/// <summary>
/// Times operations into the <see cref="StepProfile"/> open on this thread (<see cref="Begin"/>). Every differentiable
/// operation opens a <see cref="Scope"/> for its forward pass, every node's backward rule one for its kind, and the
/// parts nested inside a scope (a reorder inside an operation, a convolution's dX inside its rule) are subtracted from
/// it, so each kind gets its own time. While no profile is open anywhere, a scope is one read of a static field: no
/// clock, no allocation, and nothing changes what is computed.
/// </summary>
internal static class OpProfiler
{
    private static int s_open;
    [ThreadStatic] private static StepProfile? t_profile;
    [ThreadStatic] private static ProfiledOp t_current;
    [ThreadStatic] private static bool t_backward;

    /// <summary>Whether a profile is open on any thread (the cheap test before the thread-static one).</summary>
    public static bool AnyOpen => Volatile.Read(ref s_open) != 0;

    /// <summary>The operation whose forward scope is innermost on this thread (what a node recorded now belongs to).</summary>
    public static ProfiledOp Current => AnyOpen ? t_current : ProfiledOp.Other;

    /// <summary>Opens <paramref name="profile"/> on this thread until the result is disposed (one at a time per thread).</summary>
    public static IDisposable Begin(StepProfile profile)
    {
        if (t_profile is not null)
        {
            throw new InvalidOperationException("a step profile is already open on this thread");
        }
        t_profile = profile;
        Interlocked.Increment(ref s_open);
        return new Closer();
    }

    /// <summary>Times <paramref name="op"/> (in the pass the thread is in) until disposed; a no-op while no profile is open.</summary>
    public static Scope Time(ProfiledOp op) => AnyOpen && t_profile is { } p ? new Scope(p, op, t_backward) : default;

    /// <summary>Times the backward rule of a node of <paramref name="op"/> until disposed.</summary>
    public static Scope Backward(ProfiledOp op) => AnyOpen && t_profile is { } p ? new Scope(p, op, backward: true) : default;

    /// <summary>Marks this thread as inside a backward pass (so operations run by rules count as backward) until disposed.</summary>
    public static BackwardPass EnterBackward() => AnyOpen && t_profile is not null ? new BackwardPass(true) : default;

    /// <summary>Adds backward-pass bookkeeping ticks (the tape walk outside the rules).</summary>
    public static void AddBookkeeping(long ticks)
    {
        if (AnyOpen && t_profile is { } p)
        {
            p.Add(ProfiledOp.Bookkeeping, backward: true, ticks);
        }
    }

    /// <summary>One timed region; exclusive of the regions nested in it.</summary>
    internal readonly struct Scope : IDisposable
    {
        private readonly StepProfile? _profile;
        private readonly long _start, _nestedAtStart;
        private readonly ProfiledOp _op, _outer;
        private readonly bool _backward;

        internal Scope(StepProfile profile, ProfiledOp op, bool backward)
        {
            _profile = profile;
            _op = op;
            _backward = backward;
            _outer = t_current;
            t_current = op;
            _nestedAtStart = profile.Nested;
            _start = Stopwatch.GetTimestamp();
        }

        public void Dispose()
        {
            if (_profile is not { } p)
            {
                return;
            }
            long elapsed = Stopwatch.GetTimestamp() - _start;
            p.Add(_op, _backward, elapsed - (p.Nested - _nestedAtStart));
            p.Nested = _nestedAtStart + elapsed;
            t_current = _outer;
        }
    }

    /// <summary>The backward-pass mark of <see cref="EnterBackward"/>.</summary>
    internal readonly struct BackwardPass : IDisposable
    {
        private readonly bool _set, _outer;

        internal BackwardPass(bool set)
        {
            _set = set;
            _outer = t_backward;
            t_backward = true;
        }

        public void Dispose()
        {
            if (_set)
            {
                t_backward = _outer;
            }
        }
    }

    private sealed class Closer : IDisposable
    {
        private bool _closed;

        public void Dispose()
        {
            if (!_closed)
            {
                _closed = true;
                t_profile = null;
                t_current = ProfiledOp.Other;
                t_backward = false;
                Interlocked.Decrement(ref s_open);
            }
        }
    }
}
