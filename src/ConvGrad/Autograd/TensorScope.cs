using System.Numerics;

namespace ConvGrad.Autograd;

/// <summary>
/// Recycles the buffers that differentiable operations allocate: inside a scope, results, saved tensors and gradients
/// come from a pool, and they all return to it when the scope is disposed (leaf gradients excepted). A training loop
/// opens one scope per step, so steps after the first allocate nothing large: fresh memory on every step costs page
/// faults and full garbage collections that take longer than the kernels.
/// <code>
/// using (TensorScope.Begin())
/// {
///     var loss = Functional.CrossEntropy(model.Forward(x), labels);
///     lossValue = loss.Item();
///     optimizer.ZeroGrad();
///     loss.Backward();
///     optimizer.Step();
/// }
/// </code>
/// Variables computed inside a scope must not be read after it ends: their storage is back in the pool, and reading
/// it throws <see cref="ObjectDisposedException"/>; copy what you keep.
/// Outside any scope, operations allocate ordinary garbage-collected tensors. Scopes are per thread and nest.
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic]
    private static TensorScope? t_current;

    private readonly TensorScope? _outer;
    private readonly HashSet<IDisposable> _tensors = new(ReferenceEqualityComparer.Instance);
    private bool _disposed;

    private TensorScope(TensorScope? outer) => _outer = outer;

    /// <summary>Opens a scope on this thread.</summary>
    public static TensorScope Begin() => t_current = new TensorScope(t_current);

    /// <summary>The innermost open scope of this thread, or null.</summary>
    internal static TensorScope? Current => t_current;

    internal void Track(IDisposable tensor) => _tensors.Add(tensor);

    internal bool Untrack(IDisposable tensor) => _tensors.Remove(tensor);

    /// <summary>Returns every buffer rented in the scope to the pool.</summary>
    /// <exception cref="InvalidOperationException">An inner scope is still open, or the scope is disposed on another thread.</exception>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        if (t_current != this)
        {
            throw new InvalidOperationException("tensor scopes must be disposed innermost first, on the thread that opened them");
        }
        _disposed = true;
        t_current = _outer;
        foreach (var t in _tensors)
        {
            t.Dispose();
        }
        _tensors.Clear();
    }
}

/// <summary>
/// Rents tensors for the operations inside the current <see cref="TensorScope"/>: their storage comes from the
/// process-wide pool (<see cref="ConvGrad.TensorPool{T}"/>) and goes back to it, through <see cref="Tensor{T}.Dispose"/>,
/// when the scope ends, so a result read after its scope throws instead of showing another step's numbers.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
internal static class ScopedTensors<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>A tensor of <paramref name="shape"/> (zeroed when <paramref name="clear"/>), tracked by the current scope if one is open.</summary>
    public static Tensor<T> Rent(ReadOnlySpan<int> shape, bool clear) => Rent(shape, MemoryFormat.Contiguous, clear);

    /// <summary>
    /// A tensor of logical <paramref name="shape"/> in <paramref name="format"/> (zeroed when <paramref name="clear"/>;
    /// otherwise every stored element, a blocked tail included, is the caller's to write), tracked by the current scope.
    /// </summary>
    public static Tensor<T> Rent(ReadOnlySpan<int> shape, MemoryFormat format, bool clear)
    {
        var t = Tensor<T>.ForKernel(shape, format, clear);
        TensorScope.Current?.Track(t);
        return t;
    }

    /// <summary>Returns <paramref name="t"/>'s storage to the pool now if the current scope rented it (it must be unreferenced).</summary>
    public static void Recycle(Tensor<T> t)
    {
        if (TensorScope.Current?.Untrack(t) == true)
        {
            t.Dispose();
        }
    }

    /// <summary>Keeps <paramref name="t"/> alive when the scope ends (it outlives the scope).</summary>
    public static void Escape(Tensor<T> t) => TensorScope.Current?.Untrack(t);
}
