using System.Globalization;

namespace ConvGrad.Explain;

/// <summary>
/// One 2-D slice of a tensor drawn as a grid: its cells row-major (1-D tensors are one row), each the label that the
/// text output uses, <c>null</c> for a drawn zero. <c>Slice</c> names the batch item and channel(s) of the slice
/// (<c>null</c> when the tensor has one slice), <c>Group</c> the channel group it belongs to.
/// </summary>
internal sealed record ExplorerGrid(string Name, string? Slice, int Group, int Rows, int Columns, IReadOnlyList<string?> Cells);

/// <summary>One product of a formula, as the labels of its two factors (e.g. <c>dO(1,1)</c> and <c>K(1,1)</c>).</summary>
internal sealed record ExplorerProduct(string A, string B);

/// <summary>A dropped term: its two factors and its line as the text output prints it, reason included.</summary>
internal sealed record ExplorerDropped(string A, string B, string Text);

/// <summary>The part of a formula's sum that one channel (or batch item) contributes: <c>Over</c> names it (<c>c = 2</c>), <c>Text</c> is its products.</summary>
internal sealed record ExplorerPartialSum(string Over, string Text, IReadOnlyList<ExplorerProduct> Products);

/// <summary>
/// The formula of one O, dK or dI cell: its one-line text, its products, its sum split by the channel (or batch item)
/// it runs over (empty when there is only one), its dropped terms and their one-line summary (count and reasons).
/// </summary>
internal sealed record ExplorerFormula(
    string Cell,
    string Text,
    IReadOnlyList<ExplorerProduct> Products,
    IReadOnlyList<ExplorerPartialSum> Sums,
    IReadOnlyList<ExplorerDropped> Dropped,
    string? DroppedSummary);

/// <summary>One tap of rot180(K) placed over dO″ for a dI cell: the dO″ position it covers, the kernel element, and the dO element under it (<c>null</c>: an inserted or padding zero).</summary>
internal sealed record ExplorerWindowTap(int Row, int Column, string Tap, string? Under);

/// <summary>rot180(K) placed over dO″ for one dI cell: the compact rule's sum for that cell.</summary>
internal sealed record ExplorerWindow(string Cell, IReadOnlyList<ExplorerWindowTap> Taps);

/// <summary>The compact rules drawn for the first batch item and channel pair: dO′ (stride zeros, <c>null</c> for stride 1), dO″ (also padded), rot180(K) and its window per dI cell.</summary>
internal sealed record ExplorerCompact(
    ExplorerGrid? DilatedOutputGradient,
    ExplorerGrid PaddedOutputGradient,
    ExplorerGrid RotatedKernel,
    IReadOnlyList<ExplorerWindow> Windows);

/// <summary>Small integers for I, K and dO from a seed, the formulas evaluated on them (O, dK, dI), and the engine's verdict on exactly these values.</summary>
internal sealed record ExplorerValues(int Seed, IReadOnlyDictionary<string, double> Cells, string Verdict, bool Passed);

/// <summary>One group of channels: the input channels it reads and the output channels it writes (labels in the page's base).</summary>
internal sealed record ExplorerChannelGroup(int Index, string Name, IReadOnlyList<string> InputChannels, IReadOnlyList<string> OutputChannels);

/// <summary>The batch, channel and group counts, and the groups' channels.</summary>
internal sealed record ExplorerChannels(int Batch, int Channels, int OutChannels, int Groups, IReadOnlyList<ExplorerChannelGroup> GroupList, string Summary);

/// <summary>
/// Everything the derivation explorer page shows for one 1-D or 2-D geometry in one index base: the grids (one per
/// batch item and channel), every cell's formula with the cells of its products and its channel sums, the compact rules,
/// how the engine computes each pass, values with their verification, the full text that <c>convgrad explain</c>
/// prints, and whether its verification (random values and integers) passed. All of it comes from
/// <see cref="Derivation"/>, <see cref="ExplainDocumentBuilder"/> and the engine; the page only draws it.
/// </summary>
internal sealed record ExplorerModel(
    string Title,
    int Dims,
    bool ZeroBased,
    ExplorerChannels Channels,
    IReadOnlyList<ExplorerGrid> Grids,
    IReadOnlyList<ExplorerFormula> Formulas,
    ExplorerCompact Compact,
    ExplorerEngine Engine,
    ExplorerValues Values,
    string Text,
    bool Verified)
{
    /// <summary>Builds the model; <paramref name="seed"/> seeds the verification's values as <c>explain --seed</c> does.</summary>
    /// <exception cref="ArgumentException">More than 2 spatial axes.</exception>
    public static ExplorerModel Build(Derivation d, int seed, bool zeroBased = false)
    {
        var p = d.Problem;
        if (p.Dims > 2)
        {
            throw new ArgumentException($"the explorer draws 1-D and 2-D geometries; got {p.Dims} axes", nameof(d));
        }
        VerificationResult[] results = [ExplainVerifier.Random(d, seed), ExplainVerifier.Integers(d, seed)];
        var document = ExplainDocumentBuilder.Build(d, zeroBased, ExplainSections.All, results);
        var n = new IndexNotation(p, zeroBased);
        var grids = new List<ExplorerGrid>();
        grids.AddRange(TensorGrids("I", d.InputShape, n, activation: true, p));
        grids.AddRange(TensorGrids("K", d.WeightShape, n, activation: false, p));
        grids.AddRange(TensorGrids("O", d.OutputShape, n, activation: true, p));
        grids.AddRange(TensorGrids("dO", d.OutputShape, n, activation: true, p));
        grids.AddRange(TensorGrids("dK", d.WeightShape, n, activation: false, p));
        grids.AddRange(TensorGrids("dI", d.InputShape, n, activation: true, p));
        var lists = document.Blocks.OfType<EquationList>().ToList();
        var formulas = new List<ExplorerFormula>();
        foreach (var (list, pass) in lists.Zip([FormulaPass.Forward, FormulaPass.KernelGradient, FormulaPass.InputGradient]))
        {
            formulas.AddRange(list.Equations.Zip(d.For(pass), (e, f) => Formula(e, f, pass, n, d)));
        }
        var values = BuildValues(d, seed, grids);
        return new ExplorerModel(document.Title, p.Dims, zeroBased, ChannelsOf(p, n), grids, formulas, BuildCompact(d, document, n),
            ExplorerEngine.Build(d, seed, n), values, new TextRenderer().Render(document), results.All(r => r.Passed));
    }

    /// <summary>The label of one element of a tensor: activations are <c>[N, C, spatial]</c>, weights <c>[K, C/G, spatial]</c>.</summary>
    public static string Label(IndexNotation n, string name, int[] index, bool activation) =>
        TextRenderer.Format(activation ? n.Activation(name, index) : n.Weight(name, index));

    private static IEnumerable<ExplorerGrid> TensorGrids(string name, int[] shape, IndexNotation n, bool activation, ConvProblem p)
    {
        int[] size = shape[2..];
        int rows = size.Length == 2 ? size[0] : 1, cols = size[^1];
        for (int a = 0; a < shape[0]; a++)
        for (int b = 0; b < shape[1]; b++)
        {
            var cells = new List<string?>(rows * cols);
            for (int y = 0; y < rows; y++)
            for (int x = 0; x < cols; x++)
            {
                int[] spatial = size.Length == 2 ? [y, x] : [x];
                cells.Add(Label(n, name, [a, b, .. spatial], activation));
            }
            // Activations: (batch item, channel); weights: (output channel, input channel of the group).
            int group = activation ? (name is "I" or "dI" ? b / p.Cg : b / p.Kg) : a / p.Kg;
            string? slice = SliceName(n, activation, name is "I" or "dI", a, b);
            yield return new ExplorerGrid(name, slice, group, rows, cols, cells);
        }
    }

    private static string? SliceName(IndexNotation n, bool activation, bool inputSide, int a, int b)
    {
        var parts = new List<string>();
        if (activation)
        {
            if (n.ShowBatch)
            {
                parts.Add($"n = {n.Format(a)}");
            }
            if (n.ShowChannels)
            {
                parts.Add(inputSide ? $"c = {n.Format(b)}" : $"k = {n.Format(b)}");
            }
        }
        else if (n.ShowChannels)
        {
            parts.Add($"k = {n.Format(a)}");
            parts.Add($"c′ = {n.Format(b)}");
        }
        return parts.Count == 0 ? null : string.Join(", ", parts);
    }

    private static ExplorerChannels ChannelsOf(ConvProblem p, IndexNotation n)
    {
        var groups = Enumerable.Range(0, p.Groups).Select(g => new ExplorerChannelGroup(
            g,
            $"group {n.Format(g)}",
            Enumerable.Range(g * p.Cg, p.Cg).Select(c => $"c = {n.Format(c)}").ToList(),
            Enumerable.Range(g * p.Kg, p.Kg).Select(k => $"k = {n.Format(k)}").ToList())).ToList();
        static string Of(int v, string one) => v == 1 ? $"1 {one}" : $"{v} {one}s";
        string batch = p.N > 1 ? $"; {p.N} batch items, which dK sums over" : "";
        string summary = p.Groups == 1
            ? $"{Of(p.C, "input channel")}, {Of(p.K, "output channel")}, one group: every output channel k sums over " +
              (p.C == 1 ? "the one input channel" : $"all {p.C} input channels") + batch
            : $"{Of(p.C, "input channel")} and {Of(p.K, "output channel")} in {p.Groups} groups: output channel k reads only the " +
              $"{Of(p.Cg, "input channel")} of its group, so K is [{p.K}, {p.Cg}, …] and its second index c′ counts within the group" + batch;
        return new ExplorerChannels(p.N, p.C, p.K, p.Groups, groups, summary);
    }

    private static ExplorerFormula Formula(Equation e, ElementFormula f, FormulaPass pass, IndexNotation n, Derivation d)
    {
        var products = e.Rhs.Select(t => new ExplorerProduct(TextRenderer.Format(t.A), TextRenderer.Format(t.B))).ToList();
        var dropped = e.Dropped.Select(x => new ExplorerDropped(TextRenderer.Format(x.Term.A), TextRenderer.Format(x.Term.B), TextRenderer.Format(x))).ToList();
        return new ExplorerFormula(TextRenderer.Format(e.Lhs), TextRenderer.Format(e), products, Sums(f, pass, products, n, d.Problem), dropped, DroppedSummary(f, pass, n));
    }

    /// <summary>
    /// The sum split by what it runs over besides the taps: O by input channel c, dI by output channel k, dK by batch
    /// item n. Empty when that index takes one value.
    /// </summary>
    private static List<ExplorerPartialSum> Sums(ElementFormula f, FormulaPass pass, List<ExplorerProduct> products, IndexNotation n, ConvProblem p)
    {
        // The index of the term that the sum runs over: I's channel (forward), dO's channel (dI), the batch item (dK).
        (int Axis, string Name, bool Varies) by = pass switch
        {
            FormulaPass.Forward => (1, "c", p.Cg > 1),
            FormulaPass.InputGradient => (1, "k", p.Kg > 1),
            _ => (0, "n", p.N > 1),
        };
        if (!by.Varies)
        {
            return [];
        }
        return f.Terms.Select((t, i) => (Key: t.Left[by.Axis], Product: products[i]))
            .GroupBy(x => x.Key)
            .Select(g => new ExplorerPartialSum($"{by.Name} = {n.Format(g.Key)}",
                string.Join(" + ", g.Select(x => $"{x.Product.A}·{x.Product.B}")),
                g.Select(x => x.Product).ToList()))
            .ToList();
    }

    /// <summary>One line for a formula's dropped terms: how many, and why (counted per kind of constraint).</summary>
    private static string? DroppedSummary(ElementFormula f, FormulaPass pass, IndexNotation n)
    {
        if (f.Excluded.Count == 0)
        {
            return null;
        }
        var reasons = f.Excluded.GroupBy(e => (e.Why.Kind, pass == FormulaPass.InputGradient ? e.Why.Stride : 0))
            .Select(g => (Count: g.Count(), Text: Reason(g.Key.Kind, g.Key.Item2, pass, n)))
            .ToList();
        string terms = f.Excluded.Count == 1 ? "term" : "terms";
        return reasons.Count == 1
            ? $"{f.Excluded.Count} dropped {terms}: {reasons[0].Text}"
            : $"{f.Excluded.Count} dropped {terms}: " + string.Join("; ", reasons.Select(r => $"{r.Count} where {r.Text}"));
    }

    private static string Reason(ExclusionKind kind, int stride, FormulaPass pass, IndexNotation n) => (pass, kind) switch
    {
        (FormulaPass.InputGradient, ExclusionKind.NotWhole) => $"the dO index is not a whole number (stride {stride} skips it)",
        (FormulaPass.InputGradient, ExclusionKind.BeforeStart) => $"the dO index is before the first output ({n.Format(0)})",
        (FormulaPass.InputGradient, _) => "the dO index is past the last output",
        (_, ExclusionKind.BeforeStart) => "the I index is in the zero padding before the input",
        _ => "the I index is in the zero padding after the input",
    };

    private static ExplorerGrid Grid(MatrixBlock m)
    {
        var rows = m.Slices[0].Rows;
        return new ExplorerGrid(m.Name, null, 0, rows.Count, rows[0].Count, rows.SelectMany(r => r.Select(c => c is null ? null : TextRenderer.Format(c))).ToList());
    }

    private static ExplorerCompact BuildCompact(Derivation d, Document document, IndexNotation n)
    {
        var p = d.Problem;
        var matrices = document.Blocks.OfType<MatrixBlock>().ToDictionary(m => m.Name, Grid);
        var padded = matrices["dO″"];
        var rotated = matrices["rot180(K)"];
        // The compact rule is a dilated, stride-1 cross-correlation: dI(i) = Σ_u dO″(i + d·u)·rot180(K)(u).
        int dilY = p.Dims == 2 ? p.Dilations[1] : 1, dilX = p.Dilations[2];
        int inRows = p.Dims == 2 ? p.InputSize[1] : 1, inCols = p.InputSize[2];
        var windows = new List<ExplorerWindow>();
        for (int y = 0; y < inRows; y++)
        for (int x = 0; x < inCols; x++)
        {
            var taps = new List<ExplorerWindowTap>();
            for (int u = 0; u < rotated.Rows; u++)
            for (int v = 0; v < rotated.Columns; v++)
            {
                int row = y + dilY * u, col = x + dilX * v;
                taps.Add(new ExplorerWindowTap(row, col, rotated.Cells[u * rotated.Columns + v]!, padded.Cells[row * padded.Columns + col]));
            }
            int[] spatial = p.Dims == 2 ? [y, x] : [x];
            windows.Add(new ExplorerWindow(Label(n, "dI", [0, 0, .. spatial], activation: true), taps));
        }
        return new ExplorerCompact(matrices.GetValueOrDefault("dO′"), padded, rotated, windows);
    }

    private static ExplorerValues BuildValues(Derivation d, int seed, IReadOnlyList<ExplorerGrid> grids)
    {
        var (x, w, dy) = ExplainVerifier.IntegerOperands(d, seed);
        double[] xs = ToDouble(x), ws = ToDouble(w), dys = ToDouble(dy);
        var byName = new Dictionary<string, double[]>
        {
            ["I"] = xs,
            ["K"] = ws,
            ["dO"] = dys,
            ["O"] = FormulaEvaluator.Evaluate(d, FormulaPass.Forward, xs, ws, dys),
            ["dK"] = FormulaEvaluator.Evaluate(d, FormulaPass.KernelGradient, xs, ws, dys),
            ["dI"] = FormulaEvaluator.Evaluate(d, FormulaPass.InputGradient, xs, ws, dys),
        };
        // The grids of a tensor come in row-major order of its leading two indices: their cells, in order, are the tensor's flat indices.
        var cells = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var tensor in grids.GroupBy(g => g.Name))
        {
            int i = 0;
            foreach (var label in tensor.SelectMany(g => g.Cells))
            {
                cells[label!] = byName[tensor.Key][i++];
            }
        }
        var result = ExplainVerifier.Integers(d, seed);
        return new ExplorerValues(seed, cells, ExplainDocumentBuilder.Verdict([result]), result.Passed);
    }

    private static double[] ToDouble(Tensor<float> t) => t.ToArray().Select(v => (double)v).ToArray();

    /// <summary>A count with thousands separators.</summary>
    internal static string Count(long v) => v.ToString("N0", CultureInfo.InvariantCulture);
}
