using System.Numerics;

namespace ConvGrad.Nn;

/// <summary>
/// Seeded weight initialisation. <c>fanIn</c> of a weight <c>[out, in, k...]</c> is <c>in·Πk</c> and <c>fanOut</c> is
/// <c>out·Πk</c> (PyTorch's convention; for a transposed convolution's <c>[C_in, C_out/g, k...]</c> the same formula applies
/// to the stored layout, as in PyTorch).
/// </summary>
public static class Init
{
    /// <summary>
    /// The generator of layers built without one (PyTorch's default generator): seeded with 0 when the process starts,
    /// reseeded by <see cref="ManualSeed"/>, so a model built the same way twice gets the same weights. Not for
    /// concurrent use: build models on one thread, or pass each layer its own <see cref="Random"/>.
    /// </summary>
    public static Random Generator { get; private set; } = new(0);

    /// <summary>Reseeds <see cref="Generator"/> (PyTorch's <c>torch.manual_seed</c>).</summary>
    /// <param name="seed">The seed.</param>
    public static void ManualSeed(int seed) => Generator = new Random(seed);

    /// <summary>Kaiming (He) normal for ReLU networks: <c>N(0, 2/fanIn)</c>.</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="w">The weight to fill (fans from its shape: axis 0 out, axis 1 in, the rest the receptive field).</param>
    /// <param name="rng">The random source.</param>
    public static void KaimingNormal<T>(Tensor<T> w, Random rng) where T : unmanaged, IFloatingPointIeee754<T> =>
        Normal(w, Math.Sqrt(2.0 / FanIn(w)), rng);

    /// <summary>Kaiming (He) uniform for ReLU networks: <c>U(−b, b)</c> with <c>b = √(6/fanIn)</c>.</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="w">The weight to fill (fans from its shape: axis 0 out, axis 1 in, the rest the receptive field).</param>
    /// <param name="rng">The random source.</param>
    public static void KaimingUniform<T>(Tensor<T> w, Random rng) where T : unmanaged, IFloatingPointIeee754<T> =>
        Uniform(w, Math.Sqrt(6.0 / FanIn(w)), rng);

    /// <summary>Xavier (Glorot) uniform: <c>U(−b, b)</c> with <c>b = √(6/(fanIn + fanOut))</c>.</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="w">The weight to fill (fans from its shape: axis 0 out, axis 1 in, the rest the receptive field).</param>
    /// <param name="rng">The random source.</param>
    public static void XavierUniform<T>(Tensor<T> w, Random rng) where T : unmanaged, IFloatingPointIeee754<T> =>
        Uniform(w, Math.Sqrt(6.0 / (FanIn(w) + FanOut(w))), rng);

    /// <summary>Xavier (Glorot) normal: <c>N(0, 2/(fanIn + fanOut))</c>.</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="w">The weight to fill (fans from its shape: axis 0 out, axis 1 in, the rest the receptive field).</param>
    /// <param name="rng">The random source.</param>
    public static void XavierNormal<T>(Tensor<T> w, Random rng) where T : unmanaged, IFloatingPointIeee754<T> =>
        Normal(w, Math.Sqrt(2.0 / (FanIn(w) + FanOut(w))), rng);

    /// <summary>Fills with <c>U(−bound, bound)</c>.</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="w">The weight to fill (fans from its shape: axis 0 out, axis 1 in, the rest the receptive field).</param>
    /// <param name="bound">Values are drawn from [−bound, bound].</param>
    /// <param name="rng">The random source.</param>
    public static void Uniform<T>(Tensor<T> w, double bound, Random rng) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(rng);
        var s = w.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = T.CreateChecked((2 * rng.NextDouble() - 1) * bound);
        }
    }

    /// <summary>Fills with <c>N(0, std²)</c> (Box–Muller on the seeded generator).</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="w">The weight to fill (fans from its shape: axis 0 out, axis 1 in, the rest the receptive field).</param>
    /// <param name="std">The standard deviation.</param>
    /// <param name="rng">The random source.</param>
    public static void Normal<T>(Tensor<T> w, double std, Random rng) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(rng);
        var s = w.Span;
        for (int i = 0; i < s.Length; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            s[i] = T.CreateChecked(std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
    }

    /// <summary><c>shape[1]·Π kernel</c> (for a 2-D weight <c>[out, in]</c>: <c>in</c>).</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="w">The weight to fill (fans from its shape: axis 0 out, axis 1 in, the rest the receptive field).</param>
    public static double FanIn<T>(Tensor<T> w) where T : unmanaged, IFloatingPointIeee754<T> =>
        w.Rank < 2 ? w.Dim(0) : (double)w.Length / w.Dim(0);

    /// <summary><c>shape[0]·Π kernel</c>.</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="w">The weight to fill (fans from its shape: axis 0 out, axis 1 in, the rest the receptive field).</param>
    public static double FanOut<T>(Tensor<T> w) where T : unmanaged, IFloatingPointIeee754<T> =>
        w.Rank < 2 ? w.Dim(0) : (double)w.Length / w.Dim(1);
}
