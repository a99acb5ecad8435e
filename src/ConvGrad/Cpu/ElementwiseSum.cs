using System.Numerics;
using System.Numerics.Tensors;

namespace ConvGrad.Cpu;

/// <summary>
/// <c>sum[i] = a[i] + b[i]</c> over a tensor's stored elements (the autograd's sum of two gradients that reach one
/// variable, e.g. a residual block's input from its convolution and its shortcut), split into contiguous ranges of
/// whole cache lines over the threads of the layer that made the variable. Each element is one rounded addition
/// whatever the split, so the result is bitwise the same for any thread count.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
internal sealed class ElementwiseSum<T> : IPartitionedWork where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Sums below this many elements run on the calling thread (a fork and join costs more).</summary>
    private const int ParallelThreshold = 1 << 16;

    [ThreadStatic] private static ElementwiseSum<T>? t_work;

    private Tensor<T>? _a, _b, _sum;

    /// <summary>
    /// <c>sum = a + b</c> element by element over the stored elements (<paramref name="sum"/> may be <paramref name="a"/>),
    /// on up to <paramref name="threads"/> threads: an explicit count above 1 (a layer's; 0, the count of a variable
    /// no layer made, stays on the calling thread, so a run never uses more threads than it was given).
    /// </summary>
    public static void Add(Tensor<T> a, Tensor<T> b, Tensor<T> sum, int threads)
    {
        int length = sum.ReadOnlySpan.Length;
        int parts = Math.Min(threads, WorkerPool.MaxThreads);
        if (parts <= 1 || length < ParallelThreshold)
        {
            TensorPrimitives.Add(a.ReadOnlySpan, b.ReadOnlySpan, sum.Span);
            return;
        }
        var work = t_work ??= new ElementwiseSum<T>();
        (work._a, work._b, work._sum) = (a, b, sum);
        try
        {
            WorkerPool.Run(work, parts);
        }
        finally
        {
            (work._a, work._b, work._sum) = (null, null, null);
        }
    }

    /// <inheritdoc/>
    public unsafe void Run(int part, int parts)
    {
        int length = _sum!.ReadOnlySpan.Length;
        int line = 64 / sizeof(T);
        int lines = (length + line - 1) / line;
        int begin = (int)Math.Min((long)lines * part / parts * line, length);
        int end = (int)Math.Min((long)lines * (part + 1) / parts * line, length);
        TensorPrimitives.Add(_a!.ReadOnlySpan[begin..end], _b!.ReadOnlySpan[begin..end], _sum.Span[begin..end]);
    }
}
