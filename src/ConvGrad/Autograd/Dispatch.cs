using System.Numerics;

namespace ConvGrad.Autograd;

/// <summary>The storage formats a differentiable operation declares that it computes in.</summary>
internal enum Computes
{
    /// <summary>NCHW (<see cref="MemoryFormat.Contiguous"/>) only: the default, what an operation that declares nothing gets.</summary>
    Contiguous,

    /// <summary>NCHW or any channel-blocked format: element-wise operations and those with blocked kernels for this call.</summary>
    AnyFormat,
}

/// <summary>
/// One call of an operation after <see cref="Dispatch"/> has decided its format: the inputs are in
/// <see cref="Format"/>, and the results it makes carry the thread count of the layer that made its first input.
/// </summary>
/// <typeparam name="T">The element type.</typeparam>
internal readonly struct OpCall<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal OpCall(MemoryFormat format, int threads)
    {
        Format = format;
        Threads = threads;
    }

    /// <summary>The storage format the operation computes in (the format of its converted inputs).</summary>
    public MemoryFormat Format { get; }

    /// <summary>The thread count of the layer that made the first input (0: one per processor).</summary>
    public int Threads { get; }

    /// <summary>A result that records nothing.</summary>
    public Variable<T> Output(Tensor<T> y) => new(y) { Threads = Threads };

    /// <summary>A result recorded by <paramref name="node"/>.</summary>
    public Variable<T> Output(Tensor<T> y, Node<T> node) => new(y, node) { Threads = Threads };
}

/// <summary>
/// The one place where the memory format of an operation call is decided (PyTorch's dispatcher does the same for
/// <c>memory_format</c>). An operation declares the formats it computes in (<see cref="Computes"/>); the dispatcher
/// keeps the first input's format when the operation computes in it and converts every input to it (a recorded
/// reorder, so gradients come back in each input's own format), else converts them all to NCHW. So an operation that
/// declares nothing sees NCHW inputs whatever layer made them, and returns an NCHW result; no operation copies a layout
/// by hand: its results are in the format of the tensors it allocates.
/// </summary>
internal static class Dispatch
{
    /// <summary>Decides the format of a one-input call and converts <paramref name="x"/> to it.</summary>
    public static OpCall<T> Prepare<T>(Computes declared, ref Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var format = Decide(declared, x.Format);
        x = Functional.ToFormat(x, format);
        return new OpCall<T>(format, x.Threads);
    }

    /// <summary>Decides the format of a two-input call (the first input's, when declared) and converts both to it.</summary>
    public static OpCall<T> Prepare<T>(Computes declared, ref Variable<T> a, ref Variable<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var format = Decide(declared, a.Format);
        a = Functional.ToFormat(a, format);
        b = Functional.ToFormat(b, format, a.Threads);
        return new OpCall<T>(format, a.Threads);
    }

    /// <summary>Decides the format of a call on <paramref name="xs"/> (the first one's, when declared) and converts each element in place.</summary>
    public static OpCall<T> Prepare<T>(Computes declared, Variable<T>[] xs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var format = Decide(declared, xs[0].Format);
        for (int i = 0; i < xs.Length; i++)
        {
            xs[i] = Functional.ToFormat(xs[i], format, xs[0].Threads);
        }
        return new OpCall<T>(format, xs[0].Threads);
    }

    private static MemoryFormat Decide(Computes declared, MemoryFormat first) =>
        declared == Computes.AnyFormat ? first : MemoryFormat.Contiguous;
}
