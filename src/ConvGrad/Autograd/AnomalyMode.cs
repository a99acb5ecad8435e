using System.Numerics;
using System.Numerics.Tensors;

namespace ConvGrad.Autograd;

/// <summary>
/// PyTorch's anomaly mode (<c>torch.autograd.detect_anomaly</c>) for this thread: while enabled, every differentiable
/// operation's output in the forward pass and every gradient a backward rule passes on are checked, and the first one
/// holding NaN or ±∞ throws <see cref="NonFiniteValueException"/> naming the operation. Costs a pass over every output
/// and gradient, so it is for finding where a run went non-finite, not for every run.
/// </summary>
public static class AnomalyMode
{
    [ThreadStatic] private static int t_depth;

    /// <summary>Whether anomaly mode is on for this thread.</summary>
    public static bool IsEnabled => t_depth > 0;

    /// <summary>Turns anomaly mode on for this thread until the returned scope is disposed (scopes nest).</summary>
    public static IDisposable Enable()
    {
        t_depth++;
        return new Scope();
    }

    /// <summary>Whether every value of <paramref name="values"/> is finite (no NaN, no ±∞).</summary>
    /// <typeparam name="T">float or double.</typeparam>
    /// <param name="values">The values to check.</param>
    public static bool AllFinite<T>(ReadOnlySpan<T> values) where T : unmanaged, IFloatingPointIeee754<T> =>
        values.IsEmpty || T.IsFinite(TensorPrimitives.MaxMagnitude(values));

    /// <summary>The first non-finite value of <paramref name="values"/>, as text (<c>NaN</c>, <c>∞</c>, <c>-∞</c>), and its index.</summary>
    internal static (string Value, int Index) FirstNonFinite<T>(ReadOnlySpan<T> values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!T.IsFinite(values[i]))
            {
                return (T.IsNaN(values[i]) ? "NaN" : T.IsNegative(values[i]) ? "-Infinity" : "Infinity", i);
            }
        }
        return ("finite", -1);
    }

    /// <summary>In anomaly mode: throws when the output <paramref name="y"/> of forward operation <paramref name="op"/> is not finite.</summary>
    internal static void CheckForward<T>(Variable<T> y, string op) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = y.Value.ReadOnlySpan;
        if (!AllFinite(values))
        {
            var (value, index) = FirstNonFinite(values);
            throw new NonFiniteValueException(op, "forward", $"its output [{string.Join(", ", y.Value.Shape.ToArray())}] holds {value} (element {index})", value);
        }
    }

    /// <summary>In anomaly mode: throws when backward rule <paramref name="node"/> passes a non-finite gradient to its input <paramref name="input"/>.</summary>
    internal static void CheckBackward<T>(string node, int input, Tensor<T> g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = g.ReadOnlySpan;
        if (!AllFinite(values))
        {
            var (value, index) = FirstNonFinite(values);
            throw new NonFiniteValueException(node, "backward", $"the gradient of its input {input} holds {value} (element {index})", value);
        }
    }

    private sealed class Scope : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (!_disposed)
            {
                _disposed = true;
                t_depth--;
            }
        }
    }
}
