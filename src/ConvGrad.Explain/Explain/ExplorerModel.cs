namespace ConvGrad.Explain;

/// <summary>One tensor drawn as a grid: its cells row-major (1-D tensors are one row), each the label that the text output uses, <c>null</c> for a drawn zero.</summary>
internal sealed record ExplorerGrid(string Name, int Rows, int Columns, IReadOnlyList<string?> Cells);

/// <summary>One product of a formula, as the labels of its two factors (e.g. <c>dO(1,1)</c> and <c>K(1,1)</c>).</summary>
internal sealed record ExplorerProduct(string A, string B);

/// <summary>A dropped term: its two factors and its line as the text output prints it, reason included.</summary>
internal sealed record ExplorerDropped(string A, string B, string Text);

/// <summary>The formula of one O, dK or dI cell: its one-line text, its products, and its dropped terms.</summary>
internal sealed record ExplorerFormula(string Cell, string Text, IReadOnlyList<ExplorerProduct> Products, IReadOnlyList<ExplorerDropped> Dropped);

/// <summary>One tap of rot180(K) placed over dO″ for a dI cell: the dO″ position it covers, the kernel element, and the dO element under it (<c>null</c>: an inserted or padding zero).</summary>
internal sealed record ExplorerWindowTap(int Row, int Column, string Tap, string? Under);

/// <summary>rot180(K) placed over dO″ for one dI cell: the compact rule's sum for that cell.</summary>
internal sealed record ExplorerWindow(string Cell, IReadOnlyList<ExplorerWindowTap> Taps);

/// <summary>One stride phase of dI: the input positions with the same remainder modulo the stride and the only kernel taps that reach them.</summary>
internal sealed record ExplorerPhase(string Name, IReadOnlyList<string> Cells, IReadOnlyList<string> Taps);

/// <summary>The compact rules drawn for the case: dO′ (stride zeros, <c>null</c> for stride 1), dO″ (also padded), rot180(K), its window per dI cell, and the phases.</summary>
internal sealed record ExplorerCompact(
    ExplorerGrid? DilatedOutputGradient,
    ExplorerGrid PaddedOutputGradient,
    ExplorerGrid RotatedKernel,
    IReadOnlyList<ExplorerWindow> Windows,
    IReadOnlyList<ExplorerPhase> Phases);

/// <summary>Small integers for I, K and dO from a seed, the formulas evaluated on them (O, dK, dI), and the engine's verdict on exactly these values.</summary>
internal sealed record ExplorerValues(int Seed, IReadOnlyDictionary<string, double> Cells, string Verdict, bool Passed);

/// <summary>
/// Everything the derivation explorer page shows for one 1-D or 2-D geometry (one batch item, one channel): the grids,
/// every cell's formula with the cells of its products, the compact rules, values with their verification, and the
/// full text that <c>convgrad explain</c> prints, and whether its verification (random values and integers) passed. All of it comes from <see cref="Derivation"/> and
/// <see cref="ExplainDocumentBuilder"/>; the page only draws it.
/// </summary>
internal sealed record ExplorerModel(
    string Title,
    int Dims,
    IReadOnlyList<ExplorerGrid> Grids,
    IReadOnlyList<ExplorerFormula> Formulas,
    ExplorerCompact Compact,
    ExplorerValues Values,
    string Text,
    bool Verified)
{
    /// <summary>Builds the model; <paramref name="seed"/> seeds the verification's values as <c>explain --seed</c> does.</summary>
    /// <exception cref="ArgumentException">More than 2 spatial axes, or more than one batch item or channel.</exception>
    public static ExplorerModel Build(Derivation d, int seed)
    {
        var p = d.Problem;
        if (p.Dims > 2 || p.N != 1 || p.C != 1 || p.K != 1)
        {
            throw new ArgumentException($"the explorer draws 1-D and 2-D geometries with one batch item and one channel; got {p.Dims} axes, N {p.N}, C {p.C}, K {p.K}", nameof(d));
        }
        VerificationResult[] results = [ExplainVerifier.Random(d, seed), ExplainVerifier.Integers(d, seed)];
        var document = ExplainDocumentBuilder.Build(d, zeroBased: false, ExplainSections.All, results);
        var n = new IndexNotation(p, zeroBased: false);
        int[] input = d.InputShape[2..], kernel = d.WeightShape[2..], output = d.OutputShape[2..];
        var grids = new List<ExplorerGrid>
        {
            Grid("I", input, n), Grid("K", kernel, n), Grid("O", output, n),
            Grid("dO", output, n), Grid("dK", kernel, n), Grid("dI", input, n),
        };
        var formulas = document.Blocks.OfType<EquationList>().SelectMany(l => l.Equations).Select(Formula).ToList();
        var compact = BuildCompact(d, document, n);
        return new ExplorerModel(document.Title, p.Dims, grids, formulas, compact, BuildValues(d, seed, grids), new TextRenderer().Render(document),
            results.All(r => r.Passed));
    }

    private static ExplorerFormula Formula(Equation e) => new(
        TextRenderer.Format(e.Lhs),
        TextRenderer.Format(e),
        e.Rhs.Select(t => new ExplorerProduct(TextRenderer.Format(t.A), TextRenderer.Format(t.B))).ToList(),
        e.Dropped.Select(x => new ExplorerDropped(TextRenderer.Format(x.Term.A), TextRenderer.Format(x.Term.B), TextRenderer.Format(x))).ToList());

    private static ExplorerGrid Grid(string name, int[] size, IndexNotation n)
    {
        int rows = size.Length == 2 ? size[0] : 1, cols = size[^1];
        var cells = new List<string?>(rows * cols);
        for (int y = 0; y < rows; y++)
        for (int x = 0; x < cols; x++)
        {
            cells.Add(TextRenderer.Format(size.Length == 2 ? n.Spatial(name, y, x) : n.Spatial(name, x)));
        }
        return new ExplorerGrid(name, rows, cols, cells);
    }

    private static ExplorerGrid Grid(MatrixBlock m)
    {
        var rows = m.Slices[0].Rows;
        return new ExplorerGrid(m.Name, rows.Count, rows[0].Count, rows.SelectMany(r => r.Select(c => c is null ? null : TextRenderer.Format(c))).ToList());
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
            var cell = p.Dims == 2 ? n.Spatial("dI", y, x) : n.Spatial("dI", x);
            windows.Add(new ExplorerWindow(TextRenderer.Format(cell), taps));
        }
        return new ExplorerCompact(matrices.GetValueOrDefault("dO′"), padded, rotated, windows, StridePhases.Of(d, n));
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
        // One batch item and one channel: a grid's row-major cell index is the tensor's flat index.
        var cells = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var g in grids)
        {
            for (int i = 0; i < g.Cells.Count; i++)
            {
                cells[g.Cells[i]!] = byName[g.Name][i];
            }
        }
        var result = ExplainVerifier.Integers(d, seed);
        return new ExplorerValues(seed, cells, ExplainDocumentBuilder.Verdict([result]), result.Passed);
    }

    private static double[] ToDouble(Tensor<float> t) => t.ToArray().Select(v => (double)v).ToArray();
}
