using System.Numerics;
using System.Numerics.Tensors;

namespace ConvGrad.Autograd;

/// <summary>
/// Differentiable operations on <see cref="Variable{T}"/> (PyTorch's <c>torch</c> and <c>torch.nn.functional</c>).
/// Each one computes its result with the library's kernels and, when gradients are being recorded
/// (<see cref="GradMode.IsEnabled"/>) and an input requires them, records a node holding its backward rule.
/// One file per family: convolution, linear, arithmetic, shape, activation, pooling, normalisation, loss.
/// </summary>
public static partial class Functional
{
    /// <summary>Whether an operation on these inputs is recorded.</summary>
    private static bool Records<T>(Variable<T> a) where T : unmanaged, IFloatingPointIeee754<T> =>
        a.RequiresGrad && GradMode.IsEnabled;

    private static bool Records<T>(Variable<T> a, Variable<T> b) where T : unmanaged, IFloatingPointIeee754<T> =>
        (a.RequiresGrad || b.RequiresGrad) && GradMode.IsEnabled;

    private static bool Records<T>(Variable<T> a, Variable<T> b, Variable<T>? c) where T : unmanaged, IFloatingPointIeee754<T> =>
        (a.RequiresGrad || b.RequiresGrad || (c?.RequiresGrad ?? false)) && GradMode.IsEnabled;

    /// <summary>The inputs of a node with an optional last input.</summary>
    private static Variable<T>[] Inputs<T>(Variable<T> a, Variable<T> b, Variable<T>? c) where T : unmanaged, IFloatingPointIeee754<T> =>
        c is null ? [a, b] : [a, b, c];

    /// <summary>A zero-initialised tensor (pooled inside a <see cref="TensorScope"/>) of <paramref name="shape"/>.</summary>
    private static Tensor<T> Zeros<T>(params ReadOnlySpan<int> shape) where T : unmanaged, IFloatingPointIeee754<T> =>
        ScopedTensors<T>.Rent(shape, clear: true);

    /// <summary>A tensor of <paramref name="shape"/> that the caller overwrites (pooled inside a <see cref="TensorScope"/>).</summary>
    private static Tensor<T> Empty<T>(params ReadOnlySpan<int> shape) where T : unmanaged, IFloatingPointIeee754<T> =>
        ScopedTensors<T>.Rent(shape, clear: false);

    /// <summary>A tensor of <paramref name="t"/>'s logical shape and format that the caller overwrites (every stored element).</summary>
    private static Tensor<T> EmptyLike<T>(Tensor<T> t) where T : unmanaged, IFloatingPointIeee754<T> =>
        ScopedTensors<T>.Rent(t.Shape, t.Format, clear: false);

    /// <summary>A tensor of <paramref name="v"/>'s logical shape and format that the caller overwrites (every stored element).</summary>
    private static Tensor<T> EmptyLike<T>(Variable<T> v) where T : unmanaged, IFloatingPointIeee754<T> => EmptyLike(v.Value);

    /// <summary>A zeroed tensor of <paramref name="t"/>'s logical shape and format.</summary>
    private static Tensor<T> ZerosLike<T>(Tensor<T> t) where T : unmanaged, IFloatingPointIeee754<T> =>
        ScopedTensors<T>.Rent(t.Shape, t.Format, clear: true);

    /// <summary>A zeroed tensor of <paramref name="v"/>'s logical shape and format.</summary>
    private static Tensor<T> ZerosLike<T>(Variable<T> v) where T : unmanaged, IFloatingPointIeee754<T> => ZerosLike(v.Value);

    /// <summary>A tensor of logical <paramref name="shape"/> in <paramref name="format"/> whose every stored element the caller writes.</summary>
    private static Tensor<T> Empty<T>(ReadOnlySpan<int> shape, MemoryFormat format) where T : unmanaged, IFloatingPointIeee754<T> =>
        ScopedTensors<T>.Rent(shape, format, clear: false);

    /// <summary>
    /// <c>s[c] = Σ_n Σ_positions t[n, c, ...]</c> for <c>t [N, C, ...]</c>: the bias gradient of
    /// <see cref="ConvGrad.Conv.BackwardBias{T}(Tensor{T}, Tensor{T}, ConvOptions?)"/>, into a scoped buffer.
    /// </summary>
    internal static Tensor<T> ChannelSums<T>(Tensor<T> t, ConvOptions? options = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = Empty<T>(t.Dim(1));
        ConvGrad.Conv.Run.BackwardBias(t, s, options);
        return s;
    }

    /// <summary>The first element of a pinned pooled tensor, for the kernels that take pointers.</summary>
    private static unsafe T* Ptr<T>(Tensor<T> t) where T : unmanaged, IFloatingPointIeee754<T> => (T*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref t.DataRef);

    private static void CheckRank<T>(Variable<T> x, int rank, string op, string layout) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Value.Rank != rank)
        {
            throw new ArgumentException($"{op} expects input {layout}; got {Shapes.Format(x.Shape)}", nameof(x));
        }
    }
}
