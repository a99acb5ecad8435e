using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ConvGrad.Optim;

/// <summary>
/// One SGD-momentum update of a parameter in a single pass (after the first step): per element
/// <c>g = w·λ + ∇</c>, <c>v = v·μ + g</c>, <c>w = (nesterov ? v·μ + g : v)·(−η) + w</c>, each product rounded before
/// its sum, exactly as <c>TensorPrimitives.MultiplyAdd</c> computes them pass by pass (<see cref="Sgd{T}"/>): the same
/// bits with a quarter of the memory traffic.
/// </summary>
internal static class SgdMomentumStep
{
    /// <summary>Updates <paramref name="w"/> and <paramref name="v"/> in place from the gradient <paramref name="grad"/>.</summary>
    public static void Run<T>(Span<T> w, ReadOnlySpan<T> grad, Span<T> v, T decay, T momentum, T negativeRate, bool nesterov)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = w.Length, i = 0;
        ref T pw = ref MemoryMarshal.GetReference(w);
        ref T pg = ref MemoryMarshal.GetReference(grad);
        ref T pv = ref MemoryMarshal.GetReference(v);
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported)
        {
            Vector512<T> wd = Vector512.Create(decay), mu = Vector512.Create(momentum), lr = Vector512.Create(negativeRate);
            for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                var wi = Vector512.LoadUnsafe(ref pw, (nuint)i);
                var g = wi * wd + Vector512.LoadUnsafe(ref pg, (nuint)i);
                var vi = Vector512.LoadUnsafe(ref pv, (nuint)i) * mu + g;
                vi.StoreUnsafe(ref pv, (nuint)i);
                var step = nesterov ? vi * mu + g : vi;
                (step * lr + wi).StoreUnsafe(ref pw, (nuint)i);
            }
        }
        else if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            Vector256<T> wd = Vector256.Create(decay), mu = Vector256.Create(momentum), lr = Vector256.Create(negativeRate);
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                var wi = Vector256.LoadUnsafe(ref pw, (nuint)i);
                var g = wi * wd + Vector256.LoadUnsafe(ref pg, (nuint)i);
                var vi = Vector256.LoadUnsafe(ref pv, (nuint)i) * mu + g;
                vi.StoreUnsafe(ref pv, (nuint)i);
                var step = nesterov ? vi * mu + g : vi;
                (step * lr + wi).StoreUnsafe(ref pw, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            T wi = Unsafe.Add(ref pw, i);
            T g = wi * decay + Unsafe.Add(ref pg, i);
            T vi = Unsafe.Add(ref pv, i) * momentum + g;
            Unsafe.Add(ref pv, i) = vi;
            Unsafe.Add(ref pw, i) = (nesterov ? vi * momentum + g : vi) * negativeRate + wi;
        }
    }
}
