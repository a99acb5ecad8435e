namespace ConvGrad.Explain;

/// <summary>
/// One stride phase of dI as the page shows it: its name, its formula as a dense correlation of dO with a sub-kernel
/// of rot180(K), the cells it writes (dI), uses (K taps) and reads (dO) over every batch item and channel, the
/// sub-kernel drawn, its multiply-adds, and whether the correlation computed on the page's integer values equals the
/// engine's dI at exactly those cells.
/// </summary>
internal sealed record ExplorerPhase(
    string Name,
    string Formula,
    string Range,
    IReadOnlyList<string> Cells,
    IReadOnlyList<string> Taps,
    IReadOnlyList<string> OutputCells,
    ExplorerGrid SubKernel,
    long MultiplyAdds,
    double MaxError,
    bool Verified);

/// <summary>dI's multiply-adds counted from the geometry: over the zero-inserted dO″, by phases, and how many of the latter multiply a real dO value.</summary>
internal sealed record ExplorerMultiplyAdds(long ZeroInserted, long Phases, long Useful, string ZeroInsertedText, string PhasesText, string UsefulText);

/// <summary>dK as a reduction: the order its terms are added in, and what the check of that order against the engine found.</summary>
internal sealed record ExplorerReduction(string Order, IReadOnlyList<int> Threads, bool SameBits, int Reproduced, int Cells, string Verdict);

/// <summary>The transposed-convolution check as the page shows it: the calls, output_padding, the result as dI-shaped values (by dI's labels) and the verdict.</summary>
internal sealed record ExplorerTransposed(string Call, string? Torch, IReadOnlyList<int> OutputPadding, IReadOnlyDictionary<string, double> Values, bool Equal, string Verdict);

/// <summary>
/// One plan of the engine's planner for the geometry, in <c>convgrad bench</c>'s words (<see cref="ConvPlanInfo"/>): the
/// pass (<c>fwd</c>, <c>dx</c>, <c>dw</c>), the layout (<c>nchw</c>, <c>blocked</c>), the ISA tier, the kernel's name, the
/// workspace and the planner's own description as the summary.
/// </summary>
internal sealed record ExplorerPlan(string Pass, string Layout, string Isa, string Kernel, string Workspace, string Summary)
{
    /// <summary>The planner's plans for every pass in both layouts (blocked only where the blocked kernels cover the problem, as bench times it).</summary>
    public static IReadOnlyList<ExplorerPlan> For(ConvProblem p) =>
        [.. from layout in new[] { ConvLayout.Nchw, ConvLayout.Blocked }
            from pass in new[] { ConvPass.Forward, ConvPass.BackwardData, ConvPass.BackwardWeight }
            let plan = ConvPlanInfo.Create(p, pass, layout)
            where plan.RunsInLayout
            select new ExplorerPlan(plan.PassName, plan.LayoutName, plan.Isa, plan.Kernel, plan.Workspace, plan.Description)];
}

/// <summary>How the engine computes the three passes of the geometry: its plans, dI by stride phases, dK as a fixed-order reduction, and dI as a transposed convolution.</summary>
internal sealed record ExplorerEngine(
    IReadOnlyList<ExplorerPlan> Plans,
    IReadOnlyList<ExplorerPhase> Phases,
    ExplorerMultiplyAdds MultiplyAdds,
    ExplorerReduction Reduction,
    ExplorerTransposed Transposed)
{
    /// <summary>Builds the engine panel: phases from the geometry, each checked on the integer values of <paramref name="seed"/>; the reduction and transposed checks.</summary>
    public static ExplorerEngine Build(Derivation d, int seed, IndexNotation n)
    {
        var p = d.Problem;
        var (x, w, dy) = ExplainVerifier.IntegerOperands(d, seed);
        double[] dys, ws, dx;
        using (x)
        using (w)
        using (dy)
        using (var engineDx = Conv.BackwardData(dy, w, d.Geometry, d.InputShape))
        {
            dys = ToDouble(dy);
            ws = ToDouble(w);
            dx = ToDouble(engineDx);
        }
        var phases = StridePhases.Of(p).Where(ph => ph.All(a => a.Positions.Length > 0)).Select(ph => Phase(p, ph, n, dys, ws, dx)).ToList();
        long perCell = (long)p.N * p.C * p.Kg;
        long zeroInserted = perCell * p.InSpatial * p.KerSpatial;
        long byPhases = phases.Sum(ph => ph.MultiplyAdds);
        long useful = d.InputGradient.Sum(f => (long)f.Terms.Count);
        string times = perCell > 1 ? $" × {perCell} (batch items × channels × output channels per group)" : "";
        var counts = new ExplorerMultiplyAdds(
            zeroInserted, byPhases, useful,
            $"{p.InSpatial} dI cells × {p.KerSpatial} taps of rot180(K){times} = {ExplorerModel.Count(zeroInserted)}",
            string.Join(" + ", StridePhases.Of(p).Where(ph => ph.All(a => a.Positions.Length > 0))
                .Select(ph => $"{ph.Aggregate(1, (v, a) => v * a.Positions.Length)}×{ph.Aggregate(1, (v, a) => v * a.Taps.Length)}")) + times + $" = {ExplorerModel.Count(byPhases)}",
            useful == byPhases
                ? $"every one of the {ExplorerModel.Count(byPhases)} multiplies a dO value"
                : $"{ExplorerModel.Count(useful)} of them multiply a dO value; the other {ExplorerModel.Count(byPhases - useful)} read the zero border around dO");
        return new ExplorerEngine(ExplorerPlan.For(p), phases, counts, CheckReduction(d, seed), CheckTransposed(d, seed, n));
    }

    private static ExplorerPhase Phase(ConvProblem p, AxisPhase[] phase, IndexNotation n, double[] dys, double[] ws, double[] engineDx)
    {
        string name = string.Join(" × ", phase.Select((a, i) => $"{n.AxisNames[i]}s {string.Join(", ", a.Positions.Select(v => n.Format(v)))}"));
        var (formula, range) = StridePhases.Formula(p, phase, n);
        var positions = StridePhases.Cartesian(phase.Select(a => a.Positions).ToArray());
        var taps = StridePhases.Cartesian(phase.Select(a => a.Taps).ToArray());
        var cells = new List<string>();
        var errors = new List<double>();
        double[] correlated = StridePhases.Correlate(p, phase, dys, ws);
        int w = 0;
        for (int b = 0; b < p.N; b++)
        for (int c = 0; c < p.C; c++)
        {
            foreach (var i in positions)
            {
                cells.Add(ExplorerModel.Label(n, "dI", [b, c, .. i], activation: true));
                errors.Add(Math.Abs(correlated[w++] - engineDx[Flat(p, b * p.C + c, i, p.InputSize)]));
            }
        }
        var tapLabels = new List<string>();
        for (int k = 0; k < p.K; k++)
        for (int c = 0; c < p.Cg; c++)
        {
            tapLabels.AddRange(taps.Select(r => ExplorerModel.Label(n, "K", [k, c, .. r], activation: false)));
        }
        // The dO cells the phase reads: t + e₀ + j·δ for every position and sub-kernel tap that lands inside dO.
        var read = new SortedSet<(int, int, int)>();
        var outputs = new List<string>();
        for (int b = 0; b < p.N; b++)
        for (int k = 0; k < p.K; k++)
        {
            foreach (var t in StridePhases.Cartesian(phase.Select(a => Enumerable.Range(0, a.Positions.Length).ToArray()).ToArray()))
            {
                foreach (var j in StridePhases.Cartesian(phase.Select(a => Enumerable.Range(0, a.Taps.Length).ToArray()).ToArray()))
                {
                    int[] o = phase.Select((a, ax) => t[ax] + a.FirstOffset + j[ax] * a.Step).ToArray();
                    if (o.Select((v, ax) => v >= 0 && v < p.OutputSize[Derivation.Axis3(p, ax)]).All(ok => ok) &&
                        read.Add((b * p.K + k, o[0], o.Length > 1 ? o[1] : 0)))
                    {
                        outputs.Add(ExplorerModel.Label(n, "dO", [b, k, .. o], activation: true));
                    }
                }
            }
        }
        var subKernel = new ExplorerGrid("K" + string.Concat(phase.Select(a => a.Remainder)), null, 0,
            phase.Length == 2 ? phase[0].Taps.Length : 1, phase[^1].Taps.Length,
            taps.Select(r => (string?)TextRenderer.Format(n.Spatial("K", r))).ToList());
        long macs = (long)p.N * p.C * p.Kg * positions.Count * taps.Count;
        double max = errors.Count == 0 ? 0 : errors.Max();
        return new ExplorerPhase(name, formula, range, cells, tapLabels, outputs, subKernel, macs, max, max == 0);
    }

    private static ExplorerReduction CheckReduction(Derivation d, int seed)
    {
        var check = ReductionOrder.Check(d, seed);
        string threads = string.Join(", ", check.Threads.SkipLast(1)) + " and " + check.Threads[^1];
        string order = d.Problem.N > 1
            ? "batch item n first, then the output pixels row by row, as each dK formula lists its terms"
            : "the output pixels row by row, as each dK formula lists its terms";
        string bits = check.SameBits
            ? $"dW is the same bit for bit with {threads} threads (random float32 values, where the order of additions changes the bits)"
            : $"dW DIFFERS between {threads} threads on random float32 values";
        string chain = check.Reproduced == check.Cells
            ? $"one fused multiply-add per term, in this order, starting from 0, gives the engine's dK bit for bit in all {check.Cells} cells: this is the order the engine adds them in, and no thread ever splits one cell's sum"
            : $"one fused multiply-add per term in this order reproduces {check.Reproduced} of the {check.Cells} dK cells bit for bit: the engine's kernel for this geometry groups the additions differently (its own account is in the plan above)";
        return new ExplorerReduction(order, check.Threads, check.SameBits, check.Reproduced, check.Cells, $"{bits}; {chain}.");
    }

    private static ExplorerTransposed CheckTransposed(Derivation d, int seed, IndexNotation n)
    {
        var t = TransposedCheck.Run(d, seed);
        var p = d.Problem;
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        int i = 0;
        for (int b = 0; b < p.N; b++)
        for (int c = 0; c < p.C; c++)
        {
            foreach (var pos in StridePhases.Cartesian(Enumerable.Range(0, p.Dims).Select(a => Enumerable.Range(0, p.InputSize[Derivation.Axis3(p, a)]).ToArray()).ToArray()))
            {
                values[ExplorerModel.Label(n, "dI", [b, c, .. pos], activation: true)] = t.Values[i++];
            }
        }
        string verdict = t.Equal
            ? $"equal: ConvTranspose.Forward(dO, K) = the transposed convolution's defining sum (dO scattered through K) = this convolution's dI from the engine and from the formulas, exactly, in all {t.Values.Count} cells"
            : $"NOT equal: largest differences {t.ScatterDifference} from the defining sum, {t.EngineDifference} from the engine's dI, {t.FormulaDifference} from the formulas";
        return new ExplorerTransposed(t.Call, t.Torch, t.OutputPadding, values, t.Equal, verdict);
    }

    private static int Flat(ConvProblem p, int plane, int[] spatial, ReadOnlySpan<int> size3)
    {
        int flat = plane;
        for (int a = 0; a < spatial.Length; a++)
        {
            flat = flat * size3[Derivation.Axis3(p, a)] + spatial[a];
        }
        return flat;
    }

    private static double[] ToDouble(Tensor<float> t) => t.ToArray().Select(v => (double)v).ToArray();
}
