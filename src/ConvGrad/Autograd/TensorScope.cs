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
/// Variables computed inside a scope must not be read after it ends (their storage is reused); copy what you keep.
/// Outside any scope, operations allocate ordinary garbage-collected tensors. Scopes are per thread and nest.
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic]
    private static TensorScope? t_current;

    private readonly TensorScope? _outer;
    private readonly HashSet<object> _tensors = new(ReferenceEqualityComparer.Instance);
    private bool _disposed;

    private TensorScope(TensorScope? outer) => _outer = outer;

    /// <summary>Opens a scope on this thread.</summary>
    public static TensorScope Begin() => t_current = new TensorScope(t_current);

    /// <summary>The innermost open scope of this thread, or null.</summary>
    internal static TensorScope? Current => t_current;

    internal void Track(object tensor) => _tensors.Add(tensor);

    internal bool Untrack(object tensor) => _tensors.Remove(tensor);

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
            switch (t)
            {
                case Tensor<float> f:
                    TensorPool<float>.Return(f);
                    break;
                case Tensor<double> d:
                    TensorPool<double>.Return(d);
                    break;
            }
        }
        _tensors.Clear();
    }
}

/// <summary>Free buffers by element count, shared by all threads; used only while a <see cref="TensorScope"/> is open.</summary>
/// <typeparam name="T">float or double.</typeparam>
internal static class TensorPool<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly Dictionary<long, Stack<Tensor<T>>> Free = [];

    /// <summary>A tensor of <paramref name="shape"/> (zeroed when <paramref name="clear"/>), pooled when a scope is open.</summary>
    public static Tensor<T> Rent(ReadOnlySpan<int> shape, bool clear)
    {
        var scope = TensorScope.Current;
        if (scope is null)
        {
            return clear ? Tensor<T>.Zeros(shape.ToArray()) : Tensor<T>.Uninitialized(shape.ToArray());
        }
        long length = Shapes.Product(shape);
        Tensor<T>? t = null;
        lock (Free)
        {
            if (Free.TryGetValue(length, out var stack) && stack.Count > 0)
            {
                t = stack.Pop();
            }
        }
        if (t is null)
        {
            t = clear ? Tensor<T>.Zeros(shape.ToArray()) : Tensor<T>.Uninitialized(shape.ToArray());
        }
        else
        {
            if (!t.Shape.SequenceEqual(shape))
            {
                t = new Tensor<T>(t, shape.ToArray());
            }
            if (clear)
            {
                t.Clear();
            }
        }
        scope.Track(t);
        return t;
    }

    /// <summary>Returns <paramref name="t"/> to the pool now if the current scope rented it (it must be unreferenced).</summary>
    public static void Recycle(Tensor<T> t)
    {
        if (TensorScope.Current?.Untrack(t) == true)
        {
            Return(t);
        }
    }

    /// <summary>Keeps <paramref name="t"/> out of the pool when the scope ends (it outlives the scope).</summary>
    public static void Escape(Tensor<T> t) => TensorScope.Current?.Untrack(t);

    public static void Return(Tensor<T> t)
    {
        lock (Free)
        {
            if (!Free.TryGetValue(t.Length, out var stack))
            {
                Free[t.Length] = stack = new Stack<Tensor<T>>();
            }
            stack.Push(t);
        }
    }
}
