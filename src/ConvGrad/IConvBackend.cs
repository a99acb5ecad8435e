namespace ConvGrad;

/// <summary>
/// One implementation of the three float32 passes of a resolved <see cref="ConvProblem"/>: the public extension point
/// through which another package (ConvGrad.Gpu) plugs a device into <see cref="Conv"/> and <see cref="ConvTranspose"/>.
/// Set an instance as <see cref="ConvOptions.Backend"/>. Shapes are validated before a backend is called; spans have
/// exactly the problem's lengths and never overlap.
/// </summary>
public interface IConvBackend
{
    /// <summary>y = x ⋆ w (+ b when <paramref name="b"/> is not empty); overwrites y.</summary>
    /// <param name="p">The resolved problem.</param>
    /// <param name="x">The input, <c>[N, C, in...]</c> row-major.</param>
    /// <param name="w">The weight, <c>[K, C/G, k...]</c>.</param>
    /// <param name="b">The bias, <c>[K]</c>, or empty for none.</param>
    /// <param name="y">The output, <c>[N, K, out...]</c>; overwritten.</param>
    /// <param name="threads">The most CPU threads the call may use (from <see cref="ConvOptions.EffectiveThreads"/>).</param>
    void Forward(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, int threads);

    /// <summary>dx = ∂L/∂x for L = Σ y·dy; overwrites dx, including exact zeros where no output reads x.</summary>
    /// <param name="p">The resolved problem.</param>
    /// <param name="dy">The output gradient, <c>[N, K, out...]</c>.</param>
    /// <param name="w">The weight, <c>[K, C/G, k...]</c>.</param>
    /// <param name="dx">The input gradient, <c>[N, C, in...]</c>; overwritten.</param>
    /// <param name="threads">The most CPU threads the call may use.</param>
    void BackwardData(ConvProblem p, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, int threads);

    /// <summary>dw = ∂L/∂w; overwrites dw.</summary>
    /// <param name="p">The resolved problem.</param>
    /// <param name="x">The input, <c>[N, C, in...]</c>.</param>
    /// <param name="dy">The output gradient, <c>[N, K, out...]</c>.</param>
    /// <param name="dw">The weight gradient, <c>[K, C/G, k...]</c>; overwritten.</param>
    /// <param name="threads">The most CPU threads the call may use.</param>
    void BackwardWeight(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw, int threads);

    /// <summary>One paragraph, in plain words, on which algorithm this backend uses for <paramref name="pass"/> of <paramref name="p"/> and why.</summary>
    /// <param name="p">The resolved problem.</param>
    /// <param name="pass">The pass to describe.</param>
    /// <returns>Plain text for reports (<c>convgrad explain</c>).</returns>
    string Describe(ConvProblem p, ConvPass pass);

    /// <summary>The scratch memory (bytes) one call of <paramref name="pass"/> on <paramref name="p"/> uses with <paramref name="threads"/> threads, for reports.</summary>
    /// <param name="p">The resolved problem.</param>
    /// <param name="pass">The pass.</param>
    /// <param name="threads">The thread count of the call.</param>
    /// <returns>Bytes of scratch memory; 0 when the pass needs none.</returns>
    long WorkspaceBytes(ConvProblem p, ConvPass pass, int threads);
}

/// <summary>The three passes of a convolution.</summary>
public enum ConvPass
{
    /// <summary>y = x ⋆ w + b.</summary>
    Forward,
    /// <summary>dx = ∂L/∂x.</summary>
    BackwardData,
    /// <summary>dw = ∂L/∂w (and db).</summary>
    BackwardWeight,
}

/// <summary>The reference implementation as a backend.</summary>
internal sealed class ReferenceBackend : IConvBackend
{
    public static ReferenceBackend Instance { get; } = new();

    public void Forward(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, int threads) =>
        Reference.ReferenceConvolution.Forward(p, x, w, b, y);

    public void BackwardData(ConvProblem p, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, int threads) =>
        Reference.ReferenceConvolution.BackwardData(p, dy, w, dx);

    public void BackwardWeight(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw, int threads) =>
        Reference.ReferenceConvolution.BackwardWeight(p, x, dy, dw);

    public long WorkspaceBytes(ConvProblem p, ConvPass pass, int threads) => 0;

    public string Describe(ConvProblem p, ConvPass pass) => pass switch
    {
        ConvPass.Forward => "The reference engine evaluates the defining sum for every output element directly: a loop over channels of the group and kernel taps, skipping taps that land in the zero padding, accumulated in float64.",
        ConvPass.BackwardData => "The reference engine gathers, for every input element, the dY·W terms whose index o = (i + p − r·d)/s is a whole number inside the output; it never builds the zero-inserted dY, it simply skips the taps whose division by the stride leaves a remainder.",
        _ => "The reference engine evaluates dW[k,c,r] = Σ_n Σ_o dY[n,k,o]·X[n,c,o·s + r·d − p] directly, accumulated in float64 in a fixed order.",
    };
}

/// <summary>Maps <see cref="ConvOptions"/> to a backend (public as <see cref="ConvOptions.EffectiveBackend"/>).</summary>
internal static class Backends
{
    public static IConvBackend For(ConvOptions options) => options.Backend ?? options.Engine switch
    {
        ConvEngine.Reference => ReferenceBackend.Instance,
        ConvEngine.Fast => Cpu.FastBackend.For(Cpu.IsaTiers.Resolve(options.MaxIsa)),
        _ => throw new ArgumentException($"unknown engine {options.Engine}", nameof(options)),
    };
}
