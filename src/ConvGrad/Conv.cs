using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ConvGrad.Reference;

namespace ConvGrad;

/// <summary>
/// Cross-correlation ("convolution" in deep learning) and its gradients, with PyTorch's semantics and layouts:
/// input <c>x [N, C, spatial...]</c>, weight <c>w [K, C/groups, kernel...]</c>, bias <c>b [K]</c>,
/// output <c>y [N, K, out...]</c>. Gradients are those of a loss L with upstream gradient <c>dy = ∂L/∂y</c>.
/// </summary>
/// <remarks>
/// float32 tensors run on the engine chosen by <see cref="ConvOptions.Engine"/>; float64 tensors always run on the
/// reference (the defining sums with float64 accumulation). Invalid shapes or geometry throw
/// <see cref="ArgumentException"/> naming the parameter and the values.
/// <para>
/// Overlapping memory: no pass computes in place. The overloads that write into a tensor you pass throw an
/// <see cref="ArgumentException"/> naming both parameters when that output shares any memory with an input (the same
/// tensor, or two views of one buffer), as PyTorch refuses an <c>out=</c> that overlaps an input; they never return
/// silently wrong numbers. The overloads that return a new tensor cannot overlap.
/// </para>
/// <para>
/// Returned tensors own pooled storage: dispose them (<c>using var y = Conv.Forward(...)</c>) to recycle it for the
/// next call; a tensor that is never disposed is reclaimed by the GC (see <see cref="Tensor{T}"/>).
/// </para>
/// </remarks>
public static partial class Conv
{
    /// <summary>Forward pass: <c>y = x ⋆ w + b</c>.</summary>
    /// <param name="x">Input <c>[N, C, spatial...]</c>.</param>
    /// <param name="w">Weight <c>[K, C/groups, kernel...]</c>.</param>
    /// <param name="b">Optional bias <c>[K]</c>.</param>
    /// <param name="geometry">Stride, padding, dilation and groups.</param>
    /// <param name="options">Engine and threads; <see cref="ConvOptions.Default"/> when null.</param>
    /// <returns>The output <c>[N, K, out...]</c>, a new tensor owning pooled storage (dispose it to recycle the storage).</returns>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static Tensor<T> Forward<T>(Tensor<T> x, Tensor<T> w, Tensor<T>? b, ConvGeometry geometry, ConvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(geometry);
        var p = ConvProblem.ForConv(geometry, x.Shape, w.Shape);
        var y = Tensor<T>.Uninitialized(p.OutputShape);
        Run.Forward(p, x, w, b, y, options);
        return y;
    }

    /// <summary>Forward pass into an existing output tensor <paramref name="y"/> (no allocation).</summary>
    /// <param name="x">Input <c>[N, C, spatial...]</c>.</param>
    /// <param name="w">Weight <c>[K, C/groups, kernel...]</c>.</param>
    /// <param name="b">Optional bias <c>[K]</c>.</param>
    /// <param name="geometry">Stride, padding, dilation and groups.</param>
    /// <param name="y">The output <c>[N, K, out...]</c>, overwritten; it must not share memory with <paramref name="x"/>, <paramref name="w"/> or <paramref name="b"/>.</param>
    /// <param name="options">Engine and threads; <see cref="ConvOptions.Default"/> when null.</param>
    /// <exception cref="ArgumentException">A shape is wrong, or <paramref name="y"/> overlaps an input (the message names both).</exception>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static void Forward<T>(Tensor<T> x, Tensor<T> w, Tensor<T>? b, ConvGeometry geometry, Tensor<T> y, ConvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(y);
        var p = ConvProblem.ForConv(geometry, x.Shape, w.Shape);
        ConvProblem.CheckShape(y.Shape, p.OutputShape, nameof(y), "the convolution output");
        Run.Forward(p, x, w, b, y, options);
    }

    /// <summary>Backward-data: <c>dx = ∂L/∂x</c>, the transposed convolution of <paramref name="dy"/> with <paramref name="w"/>.</summary>
    /// <param name="dy">Output gradient <c>[N, K, out...]</c>.</param>
    /// <param name="w">Weight <c>[K, C/groups, kernel...]</c>.</param>
    /// <param name="geometry">The geometry of the forward pass.</param>
    /// <param name="inputShape">The shape of the forward input <c>x</c> (several inputs map to the same output size).</param>
    /// <param name="options">Engine and threads.</param>
    /// <returns><c>dx</c> with shape <paramref name="inputShape"/>; exactly 0 at input positions that no output reads. A new tensor owning pooled storage.</returns>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static Tensor<T> BackwardData<T>(Tensor<T> dy, Tensor<T> w, ConvGeometry geometry, ReadOnlySpan<int> inputShape, ConvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(geometry);
        var p = ConvProblem.ForConv(geometry, inputShape, w.Shape, nameof(inputShape));
        var dx = Tensor<T>.Uninitialized(p.InputShape);
        Run.BackwardData(p, dy, w, dx, options);
        return dx;
    }

    /// <summary>Backward-data into an existing tensor <paramref name="dx"/> whose shape is the forward input's.</summary>
    /// <param name="dy">Output gradient <c>[N, K, out...]</c>.</param>
    /// <param name="w">Weight <c>[K, C/groups, kernel...]</c>.</param>
    /// <param name="geometry">The geometry of the forward pass.</param>
    /// <param name="dx">The input gradient, overwritten; it must not share memory with <paramref name="dy"/> or <paramref name="w"/>.</param>
    /// <param name="options">Engine and threads.</param>
    /// <exception cref="ArgumentException">A shape is wrong, or <paramref name="dx"/> overlaps an input (the message names both).</exception>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static void BackwardData<T>(Tensor<T> dy, Tensor<T> w, ConvGeometry geometry, Tensor<T> dx, ConvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(dx);
        var p = ConvProblem.ForConv(geometry, dx.Shape, w.Shape, nameof(dx));
        Run.BackwardData(p, dy, w, dx, options);
    }

    /// <summary>Backward-weight: <c>dw = ∂L/∂w</c>, the correlation of <paramref name="x"/> with <paramref name="dy"/> summed over the batch.</summary>
    /// <param name="x">The forward input <c>[N, C, spatial...]</c>.</param>
    /// <param name="dy">Output gradient <c>[N, K, out...]</c>.</param>
    /// <param name="geometry">The geometry of the forward pass.</param>
    /// <param name="kernelShape">The weight shape <c>[K, C/groups, kernel...]</c>.</param>
    /// <param name="options">Engine and threads.</param>
    /// <returns><c>dw</c>, a new tensor owning pooled storage.</returns>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static Tensor<T> BackwardWeight<T>(Tensor<T> x, Tensor<T> dy, ConvGeometry geometry, ReadOnlySpan<int> kernelShape, ConvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(geometry);
        var p = ConvProblem.ForConv(geometry, x.Shape, kernelShape, nameof(x), nameof(kernelShape));
        var dw = Tensor<T>.Uninitialized(p.WeightShape);
        Run.BackwardWeight(p, x, dy, dw, options);
        return dw;
    }

    /// <summary>Backward-weight into an existing tensor <paramref name="dw"/> shaped like the weight.</summary>
    /// <param name="x">The forward input <c>[N, C, spatial...]</c>.</param>
    /// <param name="dy">Output gradient <c>[N, K, out...]</c>.</param>
    /// <param name="geometry">The geometry of the forward pass.</param>
    /// <param name="dw">The weight gradient, overwritten; it must not share memory with <paramref name="x"/> or <paramref name="dy"/>.</param>
    /// <param name="options">Engine and threads.</param>
    /// <exception cref="ArgumentException">A shape is wrong, or <paramref name="dw"/> overlaps an input (the message names both).</exception>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static void BackwardWeight<T>(Tensor<T> x, Tensor<T> dy, ConvGeometry geometry, Tensor<T> dw, ConvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(geometry);
        ArgumentNullException.ThrowIfNull(dw);
        var p = ConvProblem.ForConv(geometry, x.Shape, dw.Shape, nameof(x), nameof(dw));
        Run.BackwardWeight(p, x, dy, dw, options);
    }

    /// <summary>Bias gradient: <c>db[k] = Σ_n Σ_positions dy[n, k, ...]</c>.</summary>
    /// <param name="dy">Output gradient <c>[N, K, spatial...]</c> (any number of spatial axes, or none: <c>[N, K]</c>).</param>
    /// <param name="options">
    /// The engine: float32 on <see cref="ConvEngine.Fast"/> (or a custom <see cref="ConvOptions.Backend"/>) sums each
    /// row with SIMD in a fixed order, so results do not depend on the thread count; <see cref="ConvEngine.Reference"/>
    /// and float64 accumulate in float64. Null means <see cref="ConvOptions.Default"/>.
    /// </param>
    /// <returns>A new tensor <c>[K]</c>.</returns>
    /// <exception cref="ArgumentException"><paramref name="dy"/> has fewer than two axes.</exception>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static Tensor<T> BackwardBias<T>(Tensor<T> dy, ConvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(dy);
        Run.CheckBiasRank(dy, nameof(dy));
        var db = Tensor<T>.Uninitialized(dy.Dim(1));
        Run.BackwardBias(dy, db, options);
        return db;
    }

    /// <summary>Bias gradient into <paramref name="db"/>: <c>db[k] = Σ_n Σ_positions dy[n, k, ...]</c> (overwrites db).</summary>
    /// <param name="dy">Output gradient <c>[N, K, spatial...]</c>.</param>
    /// <param name="db">The bias gradient <c>[K]</c>; overwritten. It must not share memory with <paramref name="dy"/>.</param>
    /// <param name="options">The engine, as for <see cref="BackwardBias{T}(Tensor{T}, ConvOptions?)"/>; null means <see cref="ConvOptions.Default"/>.</param>
    /// <exception cref="ArgumentException">A shape does not fit, or <paramref name="db"/> overlaps <paramref name="dy"/>.</exception>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public static void BackwardBias<T>(Tensor<T> dy, Tensor<T> db, ConvOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(db);
        Run.CheckBiasRank(dy, nameof(dy));
        ConvProblem.CheckShape(db.Shape, [dy.Dim(1)], nameof(db), "the bias gradient");
        Run.CheckNoOverlap(db, nameof(db), dy, nameof(dy));
        Run.BackwardBias(dy, db, options);
    }

    /// <summary>Validated dispatch shared by <see cref="Conv"/> and <see cref="ConvTranspose"/>.</summary>
    internal static class Run
    {
        public static void Forward<T>(ConvProblem p, Tensor<T> x, Tensor<T> w, Tensor<T>? b, Tensor<T> y, ConvOptions? options, string xName = "x", string wName = "w", string bName = "b", string yName = "y")
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            CheckContiguous(x, xName);
            CheckContiguous(w, wName);
            CheckContiguous(b, bName);
            CheckContiguous(y, yName);
            ConvProblem.CheckShape(x.Shape, p.InputShape, xName, "the convolution input");
            ConvProblem.CheckShape(w.Shape, p.WeightShape, wName, "the weight");
            if (b is not null)
            {
                ConvProblem.CheckShape(b.Shape, [p.K], bName, "the bias");
            }
            CheckNoOverlap(y, yName, x, xName);
            CheckNoOverlap(y, yName, w, wName);
            CheckNoOverlap(y, yName, b, bName);
            var o = options ?? ConvOptions.Default;
            ReadOnlySpan<T> bias = b is null ? default : b.ReadOnlySpan;
            if (typeof(T) == typeof(float))
            {
                Backends.For(o).Forward(p, F(x.ReadOnlySpan), F(w.ReadOnlySpan), F(bias), F(y.Span), o.EffectiveThreads);
            }
            else
            {
                ReferenceConvolution.Forward(p, x.ReadOnlySpan, w.ReadOnlySpan, bias, y.Span);
            }
        }

        public static void BackwardData<T>(ConvProblem p, Tensor<T> dy, Tensor<T> w, Tensor<T> dx, ConvOptions? options, string dyName = "dy", string wName = "w", string dxName = "dx")
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            CheckContiguous(dy, dyName);
            CheckContiguous(w, wName);
            CheckContiguous(dx, dxName);
            ConvProblem.CheckShape(dy.Shape, p.OutputShape, dyName, "the output gradient");
            ConvProblem.CheckShape(w.Shape, p.WeightShape, wName, "the weight");
            CheckNoOverlap(dx, dxName, dy, dyName);
            CheckNoOverlap(dx, dxName, w, wName);
            var o = options ?? ConvOptions.Default;
            if (typeof(T) == typeof(float))
            {
                Backends.For(o).BackwardData(p, F(dy.ReadOnlySpan), F(w.ReadOnlySpan), F(dx.Span), o.EffectiveThreads);
            }
            else
            {
                ReferenceConvolution.BackwardData(p, dy.ReadOnlySpan, w.ReadOnlySpan, dx.Span);
            }
        }

        public static void BackwardWeight<T>(ConvProblem p, Tensor<T> x, Tensor<T> dy, Tensor<T> dw, ConvOptions? options, string xName = "x", string dyName = "dy", string dwName = "dw")
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            CheckContiguous(x, xName);
            CheckContiguous(dy, dyName);
            CheckContiguous(dw, dwName);
            ConvProblem.CheckShape(x.Shape, p.InputShape, xName, "the convolution input");
            ConvProblem.CheckShape(dy.Shape, p.OutputShape, dyName, "the output gradient");
            CheckNoOverlap(dw, dwName, x, xName);
            CheckNoOverlap(dw, dwName, dy, dyName);
            var o = options ?? ConvOptions.Default;
            if (typeof(T) == typeof(float))
            {
                Backends.For(o).BackwardWeight(p, F(x.ReadOnlySpan), F(dy.ReadOnlySpan), F(dw.Span), o.EffectiveThreads);
            }
            else
            {
                ReferenceConvolution.BackwardWeight(p, x.ReadOnlySpan, dy.ReadOnlySpan, dw.Span);
            }
        }

        /// <summary>Throws unless <paramref name="dy"/> has the <c>[N, K, ...]</c> rank a bias gradient needs.</summary>
        public static void CheckBiasRank<T>(Tensor<T> dy, string name) where T : unmanaged, IFloatingPointIeee754<T>
        {
            CheckContiguous(dy, name);
            if (dy.Rank < 2)
            {
                throw new ArgumentException($"{name} must have shape [N, K, spatial...]; got {Shapes.Format(dy.Shape)}", name);
            }
        }

        /// <summary>
        /// The one bias-gradient implementation (the layers and autograd use it too): float32 on the fast engine sums
        /// with <see cref="TensorPrimitives"/> in a fixed order; the reference engine and float64 use the float64 loop.
        /// Shapes are checked by the caller.
        /// </summary>
        public static void BackwardBias<T>(Tensor<T> dy, Tensor<T> db, ConvOptions? options)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            int n = dy.Dim(0), k = dy.Dim(1), plane = (int)(dy.Length / ((long)n * k));
            var o = options ?? ConvOptions.Default;
            if (typeof(T) != typeof(float) || (o.Engine == ConvEngine.Reference && o.Backend is null))
            {
                ReferenceConvolution.BackwardBias(n, k, plane, dy.ReadOnlySpan, db.Span);
                return;
            }
            var d = F(dy.ReadOnlySpan);
            var g = F(db.Span);
            if (plane == 1)
            {
                // [N, K]: add whole rows, vectorised across the channels.
                d[..k].CopyTo(g);
                for (int b = 1; b < n; b++)
                {
                    TensorPrimitives.Add(g, d.Slice(b * k, k), g);
                }
                return;
            }
            for (int ch = 0; ch < k; ch++)
            {
                float sum = 0f;
                for (int b = 0; b < n; b++)
                {
                    sum += TensorPrimitives.Sum(d.Slice((b * k + ch) * plane, plane));
                }
                g[ch] = sum;
            }
        }

        /// <summary>
        /// Throws unless <paramref name="t"/> (when given) is stored NCHW: these passes read and write row-major
        /// memory, so a channel-blocked tensor would give silently wrong numbers (the blocked overloads take it).
        /// </summary>
        public static void CheckContiguous<T>(Tensor<T>? t, string name) where T : unmanaged, IFloatingPointIeee754<T>
        {
            if (t is not null && t.Format != MemoryFormat.Contiguous)
            {
                throw new ArgumentException(
                    $"{name} is {MemoryFormats.Describe(t.Format, t.Shape)}; this pass needs NCHW (convert with ToFormat(MemoryFormat.Contiguous), or use the BlockedTensor overload)", name);
            }
        }

        /// <summary>
        /// Throws when the output <paramref name="output"/> shares memory with the input <paramref name="input"/>: a pass
        /// reads its inputs while it writes its output, so an overlap would give silently wrong numbers.
        /// </summary>
        public static void CheckNoOverlap<T>(Tensor<T> output, string outputName, Tensor<T>? input, string inputName)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            if (output.Overlaps(input))
            {
                string how = ReferenceEquals(output, input) ? "is the same tensor as" : "shares memory with";
                throw new ArgumentException(
                    $"{outputName} {Shapes.Format(output.Shape)} {how} {inputName} {Shapes.Format(input!.Shape)}; the passes do not compute in place: " +
                    $"write {outputName} into a tensor that does not overlap {inputName}", outputName);
            }
        }

        private static ReadOnlySpan<float> F<T>(ReadOnlySpan<T> s) where T : unmanaged =>
            MemoryMarshal.CreateReadOnlySpan(ref Unsafe.As<T, float>(ref MemoryMarshal.GetReference(s)), s.Length);

        private static Span<float> F<T>(Span<T> s) where T : unmanaged =>
            MemoryMarshal.CreateSpan(ref Unsafe.As<T, float>(ref MemoryMarshal.GetReference(s)), s.Length);
    }
}
