namespace ConvGrad.Explain;

/// <summary>The three passes whose element formulas are derived.</summary>
internal enum FormulaPass
{
    /// <summary>O(n,k,o) = Σ I(n,c,i)·K(k,c',r): terms are (input index, kernel index).</summary>
    Forward,
    /// <summary>dK(k,c',r) = Σ I(n,c,i)·dO(n,k,o): terms are (input index, output-gradient index).</summary>
    KernelGradient,
    /// <summary>dI(n,c,i) = Σ dO(n,k,o)·K(k,c',r): terms are (output-gradient index, kernel index).</summary>
    InputGradient,
}

/// <summary>
/// One position along an axis as the exact rational <c>Num/Den</c> (0-based). Excluded terms of dI need it: the
/// output index <c>o = (i + p − r·d)/s</c> of a tap may not be a whole number.
/// </summary>
internal readonly record struct Coord(int Num, int Den)
{
    public bool IsWhole => Num % Den == 0;

    public static implicit operator Coord(int v) => new(v, 1);
}

/// <summary>One product of a formula: <c>Left[a]·Right[b]</c>, each a full 0-based tensor index (batch/channel axes included).</summary>
internal sealed record Term(int[] Left, int[] Right);

/// <summary>Why a term is not in the sum.</summary>
internal enum ExclusionKind
{
    /// <summary>The index is below 0 (in the padding before, or before the first output).</summary>
    BeforeStart,
    /// <summary>The index is at or past the size of the axis.</summary>
    PastEnd,
    /// <summary>The index is not a whole number: the stride skips it.</summary>
    NotWhole,
}

/// <summary>The index constraint that removed a term: on spatial axis <c>Axis</c>, <c>Value</c> violates <c>0 ≤ Value &lt; Size</c> or is not whole.</summary>
internal sealed record Exclusion(int Axis, ExclusionKind Kind, Coord Value, int Size, int Stride);

/// <summary>A term that the index arithmetic produces but the range constraint removes; <c>Left</c>/<c>Right</c> as in <see cref="Term"/>.</summary>
internal sealed record ExcludedTerm(Coord[] Left, Coord[] Right, Exclusion Why);

/// <summary>The explicit formula of one element: its index, the terms it sums and the terms that fall out.</summary>
internal sealed record ElementFormula(int[] Target, IReadOnlyList<Term> Terms, IReadOnlyList<ExcludedTerm> Excluded);
