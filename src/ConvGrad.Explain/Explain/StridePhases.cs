namespace ConvGrad.Explain;

/// <summary>
/// The stride phases of dI, the way the fast engine splits backward-data: input positions with the same remainder
/// modulo the stride form one phase, and only the kernel taps whose solved output index o = (i + p − r·d)/s is whole
/// for that remainder reach it. Each phase is then a stride-1 correlation of dO with those taps alone, so no inserted
/// zero is built or multiplied. The taps are read off the derived dI formulas (every tap not dropped as "not a whole
/// number"), not recomputed.
/// </summary>
internal static class StridePhases
{
    /// <summary>The phases of a 1-D or 2-D derivation (one batch item and channel), in row-major order of their remainders.</summary>
    public static IReadOnlyList<ExplorerPhase> Of(Derivation d, IndexNotation n)
    {
        var p = d.Problem;
        var phases = new SortedDictionary<(int, int), (List<string> Cells, SortedSet<string> Taps)>();
        foreach (var f in d.InputGradient)
        {
            int[] i = f.Target[2..];
            int[] s = [.. Enumerable.Range(0, p.Dims).Select(a => p.Strides[Derivation.Axis3(p, a)])];
            var key = p.Dims == 2 ? (i[0] % s[0], i[1] % s[1]) : (0, i[0] % s[0]);
            if (!phases.TryGetValue(key, out var phase))
            {
                phase = ([], new SortedSet<string>(StringComparer.Ordinal));
                phases.Add(key, phase);
            }
            phase.Cells.Add(TextRenderer.Format(n.Spatial("dI", i)));
            // A tap reaches the phase when its output index is whole: every kept term, and every term dropped only for its range.
            foreach (var t in f.Terms)
            {
                phase.Taps.Add(TextRenderer.Format(n.Spatial("K", t.Right[2..])));
            }
            foreach (var e in f.Excluded.Where(e => e.Why.Kind != ExclusionKind.NotWhole))
            {
                phase.Taps.Add(TextRenderer.Format(n.Spatial("K", e.Right[2..].Select(c => c.Num / c.Den).ToArray())));
            }
        }
        return phases.Select(kv => new ExplorerPhase(Name(p, n, kv.Key), kv.Value.Cells, kv.Value.Taps.ToList())).ToList();
    }

    private static string Name(ConvProblem p, IndexNotation n, (int Row, int Column) key)
    {
        string Axis(int a, int remainder)
        {
            int x = Derivation.Axis3(p, a);
            var positions = Enumerable.Range(0, p.InputSize[x]).Where(i => i % p.Strides[x] == remainder).Select(i => n.Format(i));
            return $"{n.AxisNames[a]}s {string.Join(", ", positions)}";
        }
        return p.Dims == 2 ? $"{Axis(0, key.Row)} × {Axis(1, key.Column)}" : Axis(0, key.Column);
    }
}
