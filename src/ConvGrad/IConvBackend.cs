namespace ConvGrad;

/// <summary>
/// One implementation of the three float32 passes of a resolved <see cref="ConvProblem"/>. Shapes are
/// validated before a backend is called; spans have exactly the problem's lengths.
/// </summary>
internal interface IConvBackend
{
    /// <summary>y = x ⋆ w (+ b when <paramref name="b"/> is not empty); overwrites y.</summary>
    void Forward(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, int threads);

    /// <summary>dx = ∂L/∂x for L = Σ y·dy; overwrites dx, including exact zeros where no output reads x.</summary>
    void BackwardData(ConvProblem p, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, int threads);

    /// <summary>dw = ∂L/∂w; overwrites dw.</summary>
    void BackwardWeight(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw, int threads);
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
}

/// <summary>Maps <see cref="ConvOptions"/> to a backend.</summary>
internal static class Backends
{
    public static IConvBackend For(ConvOptions options) => options.Engine switch
    {
        ConvEngine.Reference => ReferenceBackend.Instance,
        _ => throw new ArgumentException($"unknown engine {options.Engine}", nameof(options)),
    };
}
