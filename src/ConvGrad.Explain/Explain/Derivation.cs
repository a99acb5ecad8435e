namespace ConvGrad.Explain;

/// <summary>
/// The explicit formulas of a convolution's forward pass and both gradients, derived from index arithmetic on the
/// geometry alone and kept as data (lists of index pairs), never by probing an engine.
/// </summary>
/// <remarks>
/// Per spatial axis, with 0-based output index o, kernel tap r, stride s, dilation d and padding before p, the input
/// index of a term is <c>i = o·s + r·d − p</c>. Then
/// <code>
///   O(n,k,o)   = Σ_c' Σ_r  I(n, g·C/G + c', o·s + r·d − p) · K(k,c',r)          0 ≤ i &lt; in
///   dK(k,c',r) = Σ_n Σ_o   I(n, g·C/G + c', o·s + r·d − p) · dO(n,k,o)         0 ≤ i &lt; in
///   dI(n,c,i)  = Σ_k∈g Σ_r dO(n, k, (i + p − r·d)/s) · K(k, c − g·C/G, r)      o whole, 0 ≤ o &lt; out
/// </code>
/// with g the group of k (forward, dK) or of c (dI).
/// </remarks>
internal sealed class Derivation
{
    private Derivation(ConvGeometry geometry, ConvProblem problem)
    {
        Geometry = geometry;
        Problem = problem;
    }

    public ConvGeometry Geometry { get; }
    public ConvProblem Problem { get; }
    public int Dims => Problem.Dims;

    /// <summary>I shape <c>[N, C, in...]</c>.</summary>
    public int[] InputShape => Problem.XShape.ToArray();
    /// <summary>K shape <c>[K, C/G, k...]</c>.</summary>
    public int[] WeightShape => Problem.WShape.ToArray();
    /// <summary>O shape <c>[N, K, out...]</c>.</summary>
    public int[] OutputShape => Problem.YShape.ToArray();

    public IReadOnlyList<ElementFormula> Forward { get; private set; } = [];
    public IReadOnlyList<ElementFormula> KernelGradient { get; private set; } = [];
    public IReadOnlyList<ElementFormula> InputGradient { get; private set; } = [];

    /// <summary>Per spatial axis, whether each input position is read by some output window (dI is exactly 0 where not).</summary>
    public bool[][] Reached { get; private set; } = [];

    /// <summary>The formulas of <paramref name="pass"/>.</summary>
    public IReadOnlyList<ElementFormula> For(FormulaPass pass) => pass switch
    {
        FormulaPass.Forward => Forward,
        FormulaPass.KernelGradient => KernelGradient,
        _ => InputGradient,
    };

    /// <summary>Total number of (kept and excluded) terms over the three passes, without building them (Int128: cannot overflow).</summary>
    public static Int128 CountTerms(ConvProblem p) =>
        (Int128)p.N * p.K * p.OutSpatial * p.Cg * p.KerSpatial            // forward
        + (Int128)p.K * p.Cg * p.KerSpatial * p.N * p.OutSpatial          // dK
        + (Int128)p.N * p.C * p.InSpatial * p.Kg * p.KerSpatial;          // dI (one candidate per tap)

    /// <summary>Validates the geometry and shapes (as <see cref="Conv"/> does) and derives every element formula.</summary>
    /// <exception cref="ArgumentException">Invalid geometry or shapes.</exception>
    public static Derivation Derive(ConvGeometry geometry, ReadOnlySpan<int> inputShape, ReadOnlySpan<int> weightShape)
    {
        var p = ConvProblem.ForConv(geometry, inputShape, weightShape, "input", "kernel");
        var d = new Derivation(geometry, p);
        d.Forward = DeriveForward(p);
        d.KernelGradient = DeriveKernelGradient(p);
        d.InputGradient = DeriveInputGradient(p);
        d.Reached = Enumerable.Range(0, p.Dims).Select(a => ReachedOnAxis(p, Axis3(p, a))).ToArray();
        return d;
    }

    /// <summary>The index in ConvProblem's widened 3-axis arrays of spatial axis <paramref name="a"/>.</summary>
    public static int Axis3(ConvProblem p, int a) => 3 - p.Dims + a;

    private static List<ElementFormula> DeriveForward(ConvProblem p)
    {
        var list = new List<ElementFormula>();
        foreach (var (n, k) in Pairs(p.N, p.K))
        {
            int g = k / p.Kg;
            foreach (var o in Positions(p, p.OutputSize.ToArray()))
            {
                var terms = new List<Term>();
                var excluded = new List<ExcludedTerm>();
                for (int c = 0; c < p.Cg; c++)
                {
                    foreach (var r in Positions(p, p.KernelSize.ToArray()))
                    {
                        var i = InputPosition(p, o, r);
                        int[] kIndex = Cat(k, c, r);
                        if (OutsideInput(p, i) is { } why)
                        {
                            excluded.Add(new ExcludedTerm(Coords(Cat(n, g * p.Cg + c, i)), Coords(kIndex), why));
                        }
                        else
                        {
                            terms.Add(new Term(Cat(n, g * p.Cg + c, i), kIndex));
                        }
                    }
                }
                list.Add(new ElementFormula(Cat(n, k, o), terms, excluded));
            }
        }
        return list;
    }

    private static List<ElementFormula> DeriveKernelGradient(ConvProblem p)
    {
        var list = new List<ElementFormula>();
        foreach (var (k, c) in Pairs(p.K, p.Cg))
        {
            int g = k / p.Kg;
            foreach (var r in Positions(p, p.KernelSize.ToArray()))
            {
                var terms = new List<Term>();
                var excluded = new List<ExcludedTerm>();
                for (int n = 0; n < p.N; n++)
                {
                    foreach (var o in Positions(p, p.OutputSize.ToArray()))
                    {
                        var i = InputPosition(p, o, r);
                        int[] dyIndex = Cat(n, k, o);
                        if (OutsideInput(p, i) is { } why)
                        {
                            excluded.Add(new ExcludedTerm(Coords(Cat(n, g * p.Cg + c, i)), Coords(dyIndex), why));
                        }
                        else
                        {
                            terms.Add(new Term(Cat(n, g * p.Cg + c, i), dyIndex));
                        }
                    }
                }
                list.Add(new ElementFormula(Cat(k, c, r), terms, excluded));
            }
        }
        return list;
    }

    private static List<ElementFormula> DeriveInputGradient(ConvProblem p)
    {
        var list = new List<ElementFormula>();
        foreach (var (n, c) in Pairs(p.N, p.C))
        {
            int g = c / p.Cg, cg = c % p.Cg;
            foreach (var i in Positions(p, p.InputSize.ToArray()))
            {
                var terms = new List<Term>();
                var excluded = new List<ExcludedTerm>();
                for (int kk = 0; kk < p.Kg; kk++)
                {
                    int k = g * p.Kg + kk;
                    // Taps in reverse (the 180° rotation) so that the terms come in increasing dO index.
                    foreach (var r in Positions(p, p.KernelSize.ToArray()).Reverse())
                    {
                        // i = o·s + r·d − p  ⇔  o = (i + p − r·d)/s, kept only when whole and inside [0, out).
                        var o = new Coord[p.Dims];
                        var t = new int[p.Dims];
                        for (int a = 0; a < p.Dims; a++)
                        {
                            int x = Axis3(p, a);
                            t[a] = i[a] + p.Padding[x] - r[a] * p.Dilations[x];
                            o[a] = Reduce(t[a], p.Strides[x]);
                        }
                        // A fractional index is the first reason (the stride skips it), then the range.
                        Exclusion? why = null;
                        for (int a = 0; a < p.Dims && why is null; a++)
                        {
                            int x = Axis3(p, a);
                            why = t[a] % p.Strides[x] != 0 ? new Exclusion(a, ExclusionKind.NotWhole, o[a], p.OutputSize[x], p.Strides[x]) : null;
                        }
                        for (int a = 0; a < p.Dims && why is null; a++)
                        {
                            int x = Axis3(p, a);
                            why = t[a] < 0 ? new Exclusion(a, ExclusionKind.BeforeStart, o[a], p.OutputSize[x], p.Strides[x])
                                : t[a] / p.Strides[x] >= p.OutputSize[x] ? new Exclusion(a, ExclusionKind.PastEnd, o[a], p.OutputSize[x], p.Strides[x])
                                : null;
                        }
                        int[] kIndex = Cat(k, cg, r);
                        if (why is not null)
                        {
                            excluded.Add(new ExcludedTerm([n, k, .. o], Coords(kIndex), why));
                        }
                        else
                        {
                            terms.Add(new Term(Cat(n, k, o.Select(v => v.Num / v.Den).ToArray()), kIndex));
                        }
                    }
                }
                list.Add(new ElementFormula(Cat(n, c, i), terms, excluded));
            }
        }
        return list;
    }

    private static bool[] ReachedOnAxis(ConvProblem p, int x)
    {
        var reached = new bool[p.InputSize[x]];
        for (int o = 0; o < p.OutputSize[x]; o++)
        {
            for (int r = 0; r < p.KernelSize[x]; r++)
            {
                int i = o * p.Strides[x] + r * p.Dilations[x] - p.Padding[x];
                if (i >= 0 && i < p.InputSize[x])
                {
                    reached[i] = true;
                }
            }
        }
        return reached;
    }

    private static int[] InputPosition(ConvProblem p, int[] o, int[] r)
    {
        var i = new int[p.Dims];
        for (int a = 0; a < p.Dims; a++)
        {
            int x = Axis3(p, a);
            i[a] = o[a] * p.Strides[x] + r[a] * p.Dilations[x] - p.Padding[x];
        }
        return i;
    }

    private static Exclusion? OutsideInput(ConvProblem p, int[] i)
    {
        for (int a = 0; a < p.Dims; a++)
        {
            int x = Axis3(p, a);
            if (i[a] < 0)
            {
                return new Exclusion(a, ExclusionKind.BeforeStart, i[a], p.InputSize[x], 1);
            }
            if (i[a] >= p.InputSize[x])
            {
                return new Exclusion(a, ExclusionKind.PastEnd, i[a], p.InputSize[x], 1);
            }
        }
        return null;
    }

    private static Coord Reduce(int num, int den)
    {
        int gcd = (int)System.Numerics.BigInteger.GreatestCommonDivisor(num, den);
        return gcd == 0 ? new Coord(0, 1) : new Coord(num / gcd, den / gcd);
    }

    /// <summary>All spatial positions of a widened size array, in row-major order, as Dims-long index arrays.</summary>
    internal static IEnumerable<int[]> Positions(ConvProblem p, int[] size3)
    {
        int lead = 3 - p.Dims;
        for (int z = 0; z < size3[0]; z++)
        for (int y = 0; y < size3[1]; y++)
        for (int x = 0; x < size3[2]; x++)
        {
            int[] full = [z, y, x];
            yield return full[lead..];
        }
    }

    private static IEnumerable<(int, int)> Pairs(int a, int b)
    {
        for (int i = 0; i < a; i++)
        for (int j = 0; j < b; j++)
        {
            yield return (i, j);
        }
    }

    private static int[] Cat(int a, int b, int[] spatial) => [a, b, .. spatial];

    private static Coord[] Coords(int[] v) => v.Select(x => (Coord)x).ToArray();
}
