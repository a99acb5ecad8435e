using System.Globalization;

namespace ConvGrad.Explain;

/// <summary>
/// How indices are written: 1-based (the classic derivation) or 0-based, and which of the batch and channel
/// indices are shown (only those that can vary: n when N &gt; 1, channels when C &gt; 1 or K &gt; 1).
/// </summary>
internal sealed class IndexNotation
{
    public IndexNotation(ConvProblem p, bool zeroBased)
    {
        Base = zeroBased ? 0 : 1;
        ShowBatch = p.N > 1;
        ShowChannels = p.C > 1 || p.K > 1;
        AxisNames = p.Dims switch
        {
            1 => ["position"],
            2 => ["row", "column"],
            _ => ["depth", "row", "column"],
        };
    }

    /// <summary>The first index: 1 or 0.</summary>
    public int Base { get; }
    public bool ShowBatch { get; }
    public bool ShowChannels { get; }
    public IReadOnlyList<string> AxisNames { get; }

    /// <summary>An element of an activation-like tensor [N, C, spatial...] (I, O, dO, dI).</summary>
    public Sym Activation(string name, IReadOnlyList<Coord> index) => new(name, Select(index, ShowBatch, ShowChannels));

    public Sym Activation(string name, int[] index) => Activation(name, index.Select(v => (Coord)v).ToArray());

    /// <summary>An element of a weight-like tensor [K, C/G, kernel...] (K, dK).</summary>
    public Sym Weight(string name, IReadOnlyList<Coord> index) => new(name, Select(index, ShowChannels, ShowChannels));

    public Sym Weight(string name, int[] index) => Weight(name, index.Select(v => (Coord)v).ToArray());

    /// <summary>An element with spatial indices only (matrix drawings).</summary>
    public Sym Spatial(string name, params int[] spatial) => new(name, spatial.Select(v => Format(v)).ToArray());

    /// <summary>A 0-based position written in this notation, as a reduced fraction when it is not whole.</summary>
    public string Format(Coord c)
    {
        int num = c.Num + Base * c.Den;
        if (num % c.Den == 0)
        {
            return (num / c.Den).ToString(CultureInfo.InvariantCulture);
        }
        return string.Create(CultureInfo.InvariantCulture, $"{num}/{c.Den}");
    }

    /// <summary>The index rule of one axis as a simplified linear expression in this notation: <c>s·o + d·r − p</c> (0-based) or <c>s·o + d·r + 1 − s − d − p</c> (1-based).</summary>
    public string InputRule(int stride, int dilation, int pad, string o = "o", string r = "r")
    {
        int constant = Base * (1 - stride - dilation) - pad;
        string s = Coefficient(stride) + o + " + " + Coefficient(dilation) + r;
        return constant == 0 ? s : s + (constant > 0 ? " + " : " − ") + Math.Abs(constant).ToString(CultureInfo.InvariantCulture);
    }

    private static string Coefficient(int c) => c == 1 ? "" : c.ToString(CultureInfo.InvariantCulture);

    private string[] Select(IReadOnlyList<Coord> index, bool first, bool second)
    {
        var parts = new List<string>();
        for (int a = 0; a < index.Count; a++)
        {
            if ((a == 0 && !first) || (a == 1 && !second))
            {
                continue;
            }
            parts.Add(Format(index[a]));
        }
        return parts.ToArray();
    }
}
