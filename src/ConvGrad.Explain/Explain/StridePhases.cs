using System.Globalization;

namespace ConvGrad.Explain;

/// <summary>One stride phase of one spatial axis: the input positions <c>i = s·t + φ</c> and the taps that reach them.</summary>
/// <param name="Remainder">φ, the remainder of the phase's positions modulo the stride (0-based).</param>
/// <param name="Positions">The phase's input positions (0-based), increasing.</param>
/// <param name="Taps">The kernel taps r (0-based) whose output index is whole for this phase, in rot180 order (decreasing r).</param>
/// <param name="FirstOffset">e of the first tap in rot180 order: position <c>s·t + φ</c> reads dO at <c>t + e</c> (0-based).</param>
/// <param name="Step">How far apart in dO consecutive taps of the sub-kernel read: <c>d / gcd(d, s)</c> (1 without dilation).</param>
internal sealed record AxisPhase(int Remainder, int[] Positions, int[] Taps, int FirstOffset, int Step);

/// <summary>
/// The stride phases of dI, the way the fast engine splits backward-data, derived from the geometry: input positions
/// with the same remainder φ modulo the stride s form a phase, and a tap r reaches it exactly when
/// <c>(φ + p − r·d)</c> is a multiple of s. Then <c>dI(s·t + φ) = Σ_j dO(t + e₀ + j·δ)·K(r_j)</c> over the phase's taps
/// r₀ &gt; r₁ &gt; … (rot180 order, δ = d / gcd(d, s)): a dense (dilated by δ) correlation of dO with a sub-kernel of
/// rot180(K), in which no inserted zero appears.
/// </summary>
internal static class StridePhases
{
    /// <summary>The phases of spatial axis <paramref name="a"/> that hold at least one input position.</summary>
    public static IReadOnlyList<AxisPhase> OfAxis(ConvProblem p, int a)
    {
        int x = Derivation.Axis3(p, a);
        int s = p.Strides[x], d = p.Dilations[x], pad = p.Padding[x], k = p.KernelSize[x], n = p.InputSize[x];
        int step = d / (int)System.Numerics.BigInteger.GreatestCommonDivisor(d, s);
        var phases = new List<AxisPhase>();
        for (int phi = 0; phi < Math.Min(s, n); phi++)
        {
            int[] positions = Enumerable.Range(0, (n - phi + s - 1) / s).Select(t => s * t + phi).ToArray();
            int[] taps = Enumerable.Range(0, k).Reverse().Where(r => Mod(phi + pad - r * d, s) == 0).ToArray();
            int first = taps.Length == 0 ? 0 : (phi + pad - taps[0] * d) / s;
            phases.Add(new AxisPhase(phi, positions, taps, first, step));
        }
        return phases;
    }

    /// <summary>The phases of every axis combined (row-major over the axes' remainders).</summary>
    public static IReadOnlyList<AxisPhase[]> Of(ConvProblem p)
    {
        IEnumerable<AxisPhase[]> combos = [[]];
        for (int a = 0; a < p.Dims; a++)
        {
            var axis = OfAxis(p, a);
            combos = combos.SelectMany(c => axis.Select(ph => (AxisPhase[])[.. c, ph]));
        }
        return combos.ToList();
    }

    /// <summary>
    /// One phase's dI as the dense correlation it is, on float64 values of dO <c>[N, K, out...]</c> and K
    /// <c>[K, C/G, k...]</c>: for every batch item, input channel and phase position, Σ over the output channels of the
    /// group and the sub-kernel taps j of dO(t + e₀ + j·δ)·K(r_j), dO read as 0 outside its extent. Returns the values
    /// in the order batch, channel, phase positions (row-major).
    /// </summary>
    public static double[] Correlate(ConvProblem p, AxisPhase[] phase, ReadOnlySpan<double> dO, ReadOnlySpan<double> kernel)
    {
        int dims = p.Dims;
        var outSize = Enumerable.Range(0, dims).Select(a => p.OutputSize[Derivation.Axis3(p, a)]).ToArray();
        var kerSize = Enumerable.Range(0, dims).Select(a => p.KernelSize[Derivation.Axis3(p, a)]).ToArray();
        var cells = Cartesian(phase.Select(ph => Enumerable.Range(0, ph.Positions.Length).ToArray()).ToArray());
        var subKernel = Cartesian(phase.Select(ph => Enumerable.Range(0, ph.Taps.Length).ToArray()).ToArray());
        var result = new double[p.N * p.C * cells.Count];
        int w = 0;
        for (int n = 0; n < p.N; n++)
        for (int c = 0; c < p.C; c++)
        {
            int g = c / p.Cg, cg = c % p.Cg;
            foreach (var t in cells)
            {
                double sum = 0;
                for (int kk = 0; kk < p.Kg; kk++)
                {
                    int k = g * p.Kg + kk;
                    foreach (var j in subKernel)
                    {
                        int dOFlat = n * p.K + k, kFlat = k * p.Cg + cg;
                        bool inside = true;
                        for (int a = 0; a < dims; a++)
                        {
                            int o = t[a] + phase[a].FirstOffset + j[a] * phase[a].Step;
                            inside &= o >= 0 && o < outSize[a];
                            dOFlat = dOFlat * outSize[a] + o;
                            kFlat = kFlat * kerSize[a] + phase[a].Taps[j[a]];
                        }
                        if (inside)
                        {
                            sum += dO[dOFlat] * kernel[kFlat];
                        }
                    }
                }
                result[w++] = sum;
            }
        }
        return result;
    }

    /// <summary>The phase's formula for one spatial cell, in the notation's base: e.g. <c>dI(2t−1,2u−1) = dO(t,u)·K(1,1)</c>, and the range of t, u.</summary>
    public static (string Formula, string Range) Formula(ConvProblem p, AxisPhase[] phase, IndexNotation n)
    {
        string[] vars = p.Dims switch { 1 => ["t"], 2 => ["t", "u"], _ => ["t", "u", "v"] };
        int b = n.Base;
        string lhs = Args(Enumerable.Range(0, p.Dims).Select(a => Linear(p.Strides[Derivation.Axis3(p, a)], vars[a], phase[a].Remainder + b - p.Strides[Derivation.Axis3(p, a)] * b)));
        string range = string.Join(", ", Enumerable.Range(0, p.Dims).Select(a => $"{vars[a]} = {b}…{phase[a].Positions.Length - 1 + b}"));
        string batch = n.ShowBatch ? "n," : "", channel = n.ShowChannels ? "c," : "";
        string lead = $"dI({batch}{channel}{lhs}) = ";
        if (phase.Any(ph => ph.Taps.Length == 0))
        {
            return (lead + "0   (no tap reaches this phase)", range);
        }
        var terms = Cartesian(phase.Select(ph => Enumerable.Range(0, ph.Taps.Length).ToArray()).ToArray()).Select(j =>
        {
            string o = Args(Enumerable.Range(0, p.Dims).Select(a => Linear(1, vars[a], phase[a].FirstOffset + j[a] * phase[a].Step)));
            string r = Args(Enumerable.Range(0, p.Dims).Select(a => n.Format(phase[a].Taps[j[a]])));
            return n.ShowChannels ? $"dO({batch}k,{o})·K(k,c′,{r})" : $"dO({batch}{o})·K({r})";
        });
        return (lead + (n.ShowChannels ? "Σ_k " : "") + string.Join(" + ", terms), range);
    }

    /// <summary>The cartesian product of per-axis index lists, row-major.</summary>
    public static List<int[]> Cartesian(int[][] axes)
    {
        IEnumerable<int[]> combos = [[]];
        foreach (var axis in axes)
        {
            var captured = axis;
            combos = combos.SelectMany(c => captured.Select(v => (int[])[.. c, v]));
        }
        return combos.ToList();
    }

    private static string Args(IEnumerable<string> parts) => string.Join(",", parts);

    /// <summary><c>c·v + k</c> written compactly: <c>2t−1</c>, <c>t</c>, <c>t+1</c>, <c>3</c> (c = 0).</summary>
    private static string Linear(int c, string v, int k)
    {
        string head = c == 0 ? "" : (c == 1 ? v : c.ToString(CultureInfo.InvariantCulture) + v);
        if (head.Length == 0)
        {
            return k.ToString(CultureInfo.InvariantCulture);
        }
        return k == 0 ? head : head + (k > 0 ? "+" : "−") + Math.Abs(k).ToString(CultureInfo.InvariantCulture);
    }

    private static int Mod(int a, int m) => ((a % m) + m) % m;
}
