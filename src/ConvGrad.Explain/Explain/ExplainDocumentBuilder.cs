using System.Globalization;

namespace ConvGrad.Explain;

/// <summary>The sections an explanation can contain.</summary>
[Flags]
internal enum ExplainSections
{
    None = 0,
    Forward = 1,
    KernelGradient = 2,
    InputGradient = 4,
    /// <summary>How the engine computes each pass (from the engine's own <c>Describe</c>).</summary>
    Engine = 8,
    Verification = 16,
    All = Forward | KernelGradient | InputGradient | Engine | Verification,
}

/// <summary>
/// Builds the explanation of a <see cref="Derivation"/>: the explicit formulas of every element, the compact rules
/// with their matrices drawn for the case, the engine's own account of how it computes each pass, and the
/// verification result.
/// </summary>
internal sealed class ExplainDocumentBuilder
{
    private readonly Derivation _d;
    private readonly ConvProblem _p;
    private readonly IndexNotation _n;
    private readonly List<Block> _blocks = [];

    private ExplainDocumentBuilder(Derivation d, bool zeroBased)
    {
        _d = d;
        _p = d.Problem;
        _n = new IndexNotation(d.Problem, zeroBased);
    }

    /// <summary>Builds the document.</summary>
    /// <param name="d">The derived formulas.</param>
    /// <param name="zeroBased">Write 0-based indices instead of the classic 1-based ones.</param>
    /// <param name="sections">Which sections to include.</param>
    /// <param name="verification">The verification results, shown in the verification section.</param>
    public static Document Build(Derivation d, bool zeroBased, ExplainSections sections, IReadOnlyList<VerificationResult> verification)
    {
        var b = new ExplainDocumentBuilder(d, zeroBased);
        b.Introduction();
        if (sections.HasFlag(ExplainSections.Forward))
        {
            b.ForwardSection();
        }
        if (sections.HasFlag(ExplainSections.KernelGradient))
        {
            b.KernelGradientSection();
        }
        if (sections.HasFlag(ExplainSections.InputGradient))
        {
            b.InputGradientSection();
        }
        if (sections.HasFlag(ExplainSections.Engine))
        {
            b.EngineSection();
        }
        if (sections.HasFlag(ExplainSections.Verification))
        {
            b.VerificationSection(verification);
        }
        return new Document(b.Title(), b._blocks);
    }

    /// <summary>The one-line verdict of a verification, e.g. <c>verified: forward, dK, dI agree with the engine (max error 0)</c>.</summary>
    public static string Verdict(IReadOnlyList<VerificationResult> results)
    {
        string errors = string.Join(", ", results.Select(r => Inv($"{Num(r.Max)} on {r.Values} values")));
        if (results.All(r => r.Passed))
        {
            return $"verified: forward, dK, dI agree with the engine (max error {errors})";
        }
        var failed = results.Where(r => !r.Passed)
            .Select(r => Inv($"{r.Values} values: forward {Num(r.Forward)}, dK {Num(r.KernelGradient)}, dI {Num(r.InputGradient)}{(r.Exact ? " (must be exactly 0)" : "")}"));
        return "FAILED: the formulas and the engine disagree: " + string.Join("; ", failed);
    }

    private string Title()
    {
        string Sizes(int[] shape) => string.Join("x", shape[2..]);
        return $"convgrad explain: input {Sizes(_d.InputShape)}, kernel {Sizes(_d.WeightShape)}{GeometryWords()}";
    }

    private string GeometryWords()
    {
        var g = _d.Geometry;
        var words = new List<string>();
        if (g.Stride.Any(s => s != 1))
        {
            words.Add("stride " + List(g.Stride));
        }
        if (g.PaddingBefore.Any(v => v != 0) || g.PaddingAfter.Any(v => v != 0))
        {
            words.Add(g.PaddingBefore.SequenceEqual(g.PaddingAfter)
                ? "padding " + List(g.PaddingBefore)
                : $"padding {PaddingWords()}");
        }
        if (g.Dilation.Any(v => v != 1))
        {
            words.Add("dilation " + List(g.Dilation));
        }
        if (_p.N > 1)
        {
            words.Add($"batch {_p.N}");
        }
        if (_p.C > 1 || _p.K > 1)
        {
            words.Add($"{_p.C} → {_p.K} channels");
        }
        if (_p.Groups > 1)
        {
            words.Add($"groups {_p.Groups}");
        }
        return words.Count == 0 ? "" : ", " + string.Join(", ", words);
    }

    private void Introduction()
    {
        string axes = string.Join(", ", _n.AxisNames);
        string channels = !_n.ShowChannels ? "" :
            $" Channels: I(n?, c, …) has C = {_p.C} channels, K(k, c′, …) is [K, C/groups, …] = [{_p.K}, {_p.Cg}, …], " +
            $"and output channel k reads only the {_p.Cg} input channel(s) of its group ({_p.Groups} group(s) of {_p.Kg} output channel(s)).";
        string batch = _n.ShowBatch ? $" The first index of I, O, dO and dI is the batch item n (N = {_p.N})." : "";
        Para($"O = I ⋆ K is the cross-correlation that deep-learning frameworks call convolution. Shapes: I {Dims(_d.InputShape[2..])}, " +
             $"K {Dims(_d.WeightShape[2..])}, O {Dims(_d.OutputShape[2..])} (per axis out = ⌊(in + pad_before + pad_after − dilation·(k − 1) − 1) / stride⌋ + 1). " +
             $"Indices are {(_n.Base == 1 ? "1-based (as in the classic derivation)" : "0-based")}; spatial indices are ({axes}).{batch}{channels}");
        var rules = Enumerable.Range(0, _p.Dims).Select(a =>
        {
            int x = Derivation.Axis3(_p, a);
            return $"{_n.AxisNames[a]}: i = {_n.InputRule(_p.Strides[x], _p.Dilations[x], _p.Padding[x])}";
        });
        string rule = _n.Base == 1 ? "s·(o − 1) + d·(r − 1) + 1 − p" : "s·o + d·r − p";
        Para($"The index rule: output index o and kernel tap r read input index i = {rule} per axis " +
             $"(s stride, d dilation, p padding before); here {string.Join("; ", rules)}. Everything below follows from this rule alone.");
    }

    private void ForwardSection()
    {
        Heading("1. Forward: O = I ⋆ K");
        bool padded = _d.Forward.Any(f => f.Excluded.Count > 0);
        string sum = _n.ShowChannels ? "over the input channels c′ of its group and the kernel taps r" : "over the kernel taps r";
        Para($"Every output element is a sum {sum} of I at the index rule times K. " +
             (padded
                 ? "Taps whose input index falls into the zero padding multiply a zero; they are shown as dropped, with the index that put them there."
                 : "Here no tap leaves the input, so no term is dropped."));
        Equations(_d.Forward, "O", FormulaPass.Forward);
    }

    private void KernelGradientSection()
    {
        Heading("2. dK: the gradient with respect to the kernel");
        string batch = _p.N > 1 ? " and the batch" : "";
        Para($"With dO = ∂L/∂O given, K(r) enters every output element through the term I(i)·K(r) with i from the index rule, " +
             $"so dK(r) = Σ_o dO(o)·I(i(o, r)): for a fixed tap r the output index o runs over all outputs{batch}. " +
             (_d.KernelGradient.Any(f => f.Excluded.Count > 0)
                 ? "Terms whose input index lies in the padding are zero and shown as dropped."
                 : "No input index falls into padding here, so no term is dropped."));
        Equations(_d.KernelGradient, "dK", FormulaPass.KernelGradient);

        var s = Spatial(_p.Strides.ToArray());
        var dil = Spatial(_p.Dilations.ToArray());
        string dims = Dims(Enumerable.Range(0, _p.Dims).Select(a => (_p.OutputSize[Derivation.Axis3(_p, a)] - 1) * s[a] + 1).ToArray());
        string sumBatch = _p.N > 1 ? ", summed over the batch" : "";
        if (s.All(v => v == 1))
        {
            Para($"Compact rule: dK = I ⋆ dO — the cross-correlation of the (zero-padded) input with dO as the kernel{sumBatch}" +
                 (dil.Any(v => v != 1) ? $", read at every {List(dil)}-th position (the output stride is the forward dilation)." : ".") +
                 " With stride 1 no zeros are inserted into dO.");
            return;
        }
        Para($"Compact rule: dK = I ⋆ dO′ — the cross-correlation of the (zero-padded) input I with dO′ as the kernel{sumBatch}, " +
             $"where dO′ is dO with its taps spaced by the stride ({List(s)}): stride − 1 zeros between neighbours, a {dims} pattern. " +
             $"Equivalently, a correlation with dilation = stride ({List(s)}) and stride = dilation ({List(dil)}). " +
             "Only the nonzero taps contribute, which is why the explicit sums above have one term per output element. " +
             (_n.ShowChannels || _n.ShowBatch ? "dO′ for each batch item and output channel (those indices omitted):" : "dO′ for this case:"));
        Matrix("dO′", Enumerable.Range(0, _p.Dims).Select(a => (_p.OutputSize[Derivation.Axis3(_p, a)] - 1) * s[a] + 1).ToArray(),
            t => Dilated(t, s, new int[_p.Dims]));
    }

    private void InputGradientSection()
    {
        Heading("3. dI: the gradient with respect to the input");
        string solved = string.Join("; ", Enumerable.Range(0, _p.Dims).Select(a =>
        {
            int x = Derivation.Axis3(_p, a);
            int c = _p.Padding[x] + _n.Base * (_p.Dilations[x] - 1);
            string num = $"i − {(_p.Dilations[x] == 1 ? "" : _p.Dilations[x] + "")}r" + (c == 0 ? "" : $" + {c}");
            string o = _p.Strides[x] == 1 ? num : $"({num})/{_p.Strides[x]}";
            return $"{_n.AxisNames[a]}: o = {o}{(_n.Base == 1 ? " + 1" : "")}";
        }));
        string general = _n.Base == 1 ? "o = (i − 1 + p − d·(r − 1))/s + 1" : "o = (i + p − d·r)/s";
        Para("I(i) enters every output element whose window read it, so dI(i) = Σ_r Σ_o [i = index rule(o, r)] dO(o)·K(r). " +
             $"Solving the rule for o gives, per tap r, {general}; here {solved}. A tap contributes only when o is a whole number from {_n.Base} to the " +
             "output size on every axis; the dropped lines show each tap that fails, with the constraint it fails.");
        Equations(_d.InputGradient, "dI", FormulaPass.InputGradient);
        Unreached();
        CompactInputGradient();
    }

    private void Unreached()
    {
        var lines = new List<string>();
        for (int a = 0; a < _p.Dims; a++)
        {
            int x = Derivation.Axis3(_p, a);
            var missing = Enumerable.Range(0, _p.InputSize[x]).Where(i => !_d.Reached[a][i]).ToArray();
            if (missing.Length == 0)
            {
                continue;
            }
            int lastEnd = (_p.OutputSize[x] - 1) * _p.Strides[x] + (_p.KernelSize[x] - 1) * _p.Dilations[x] - _p.Padding[x];
            var trailing = missing.Where(i => i > lastEnd).ToArray();
            var inner = missing.Where(i => i <= lastEnd).ToArray();
            int span = _p.InputSize[x] + _p.Padding[x] + PadAfter(a) - _p.Dilations[x] * (_p.KernelSize[x] - 1) - 1;
            if (trailing.Length > 0)
            {
                lines.Add($"{Plural(a, trailing.Length)} {Positions(trailing)}: the last window ends at {_n.AxisNames[a]} {_n.Format(lastEnd)}, " +
                          $"because the stride {_p.Strides[x]} does not divide the span in + pad_before + pad_after − d·(k − 1) − 1 = {span} " +
                          $"({span % _p.Strides[x]} left over), so the trailing {_n.AxisNames[a]}(s) are read by no output");
            }
            if (inner.Length > 0)
            {
                lines.Add($"{Plural(a, inner.Length)} {Positions(inner)}: they fall between the taps of every window " +
                          $"(stride {_p.Strides[x]}, dilation {_p.Dilations[x]}, kernel {_p.KernelSize[x]}), so no (o, r) satisfies the index rule there");
            }
        }
        Para(lines.Count == 0
            ? "Every input position is read by at least one output, so no dI element is zero for lack of terms."
            : "Input positions that no output reads get dI = 0 exactly (their sums above are empty): " + string.Join("; ", lines) + ".");
    }

    private void CompactInputGradient()
    {
        var s = Spatial(_p.Strides.ToArray());
        var dil = Spatial(_p.Dilations.ToArray());
        var before = new int[_p.Dims];
        var after = new int[_p.Dims];
        var size = new int[_p.Dims];
        var transposed = new int[_p.Dims];
        var outputPadding = new int[_p.Dims];
        for (int a = 0; a < _p.Dims; a++)
        {
            int x = Derivation.Axis3(_p, a);
            before[a] = _p.Dilations[x] * (_p.KernelSize[x] - 1) - _p.Padding[x];
            after[a] = _p.InputSize[x] - 1 + _p.Padding[x] - (_p.OutputSize[x] - 1) * _p.Strides[x];
            size[a] = (_p.OutputSize[x] - 1) * _p.Strides[x] + 1 + before[a] + after[a];
            transposed[a] = (_p.OutputSize[x] - 1) * _p.Strides[x] + _p.Dilations[x] * (_p.KernelSize[x] - 1) + 1 - _p.Padding[x] - PadAfter(a);
            outputPadding[a] = _p.InputSize[x] - transposed[a];
        }
        string crop = before.Any(v => v < 0) || after.Any(v => v < 0) ? " (a negative amount means that many rows are cropped instead)" : "";
        string zeros = s.All(v => v == 1) ? "dO itself (stride 1 inserts no zeros)" : $"dO with stride − 1 zeros inserted between neighbours (stride {List(s)})";
        Para("Compact rule: substituting r → k + 1 − r (the 180° rotation: in the solved rule o decreases as r increases) turns the sum " +
             $"into dI = dO″ ⋆ rot180(K), a full cross-correlation with dilation d and stride 1, where dO″ is {zeros}, padded by d·(k − 1) − pad_before = {List(before)} before and " +
             $"in − 1 + pad_before − (out − 1)·s = {List(after)} after{crop}, so that the result has the input's size. " +
             (_n.ShowChannels || _n.ShowBatch ? "Drawn for one batch item and channel pair (those indices omitted):" : "Drawn for this case:"));
        Matrix("dO″", size, t => Dilated(t, s, before));
        Matrix("rot180(K)", Enumerable.Range(0, _p.Dims).Select(a => _p.KernelSize[Derivation.Axis3(_p, a)]).ToArray(),
            t => _n.Spatial("K", t.Select((v, a) => _p.KernelSize[Derivation.Axis3(_p, a)] - 1 - v).ToArray()));
        bool unique = s.All(v => v == 1);
        Para($"This is the transposed convolution of dO with K (same stride {List(s)}, padding {PaddingWords()} and dilation {List(dil)}; PyTorch's " +
             "conv_transpose with the weight read as [K, C/groups, …]). On its own, a transposed convolution of a size-out input returns " +
             $"(out − 1)·s + d·(k − 1) + 1 − pad_before − pad_after = {Dims(transposed)}; the forward input was {Dims(_d.InputShape[2..])}, so " +
             (outputPadding.All(v => v == 0)
                 ? "output_padding = 0: the shapes already match. "
                 : $"output_padding = {List(outputPadding)} adds the missing trailing positions. ") +
             (unique
                 ? "With stride 1 the input size is determined by the output size, so there is no ambiguity."
                 : $"output_padding is needed because every input size from {Dims(transposed)} to " +
                   $"{Dims(transposed.Select((t, a) => t + s[a] - 1).ToArray())} gives the same output size with this stride; " +
                   "output_padding (always smaller than the stride) says which one was meant."));
    }

    private void EngineSection()
    {
        Heading("4. How it is computed fast");
        var backend = ConvOptions.Default.EffectiveBackend;
        Para($"Forward: {backend.Describe(_p, ConvPass.Forward)}");
        Para($"dI (backward-data): {backend.Describe(_p, ConvPass.BackwardData)}");
        Para($"dK (backward-weight): {backend.Describe(_p, ConvPass.BackwardWeight)}");
    }

    private void VerificationSection(IReadOnlyList<VerificationResult> results)
    {
        Heading("5. Verification");
        string values = string.Join(" and ", results.Select(r => r.Exact ? "small integers (every sum exact, so the match must be exact)" : "random values in [−1, 1)"));
        Para("The formulas above were derived from the index rule on the geometry alone, never by probing the engine with one-hot inputs " +
             $"(which would make the check circular). Each printed sum, kept as a list of index pairs, was evaluated on {values} " +
             "and compared with the engine's forward, dX and dW (ConvOptions.Default).");
        _blocks.Add(new VerdictLine(Verdict(results)));
    }

    private void Equations(IReadOnlyList<ElementFormula> formulas, string name, FormulaPass pass)
    {
        var eqs = new List<Equation>();
        foreach (var f in formulas)
        {
            Sym lhs = pass == FormulaPass.KernelGradient ? _n.Weight(name, f.Target) : _n.Activation(name, f.Target);
            var rhs = f.Terms.Select(t => pass switch
            {
                FormulaPass.Forward => new Product(_n.Activation("I", t.Left), _n.Weight("K", t.Right)),
                FormulaPass.KernelGradient => new Product(_n.Activation("I", t.Left), _n.Activation("dO", t.Right)),
                _ => new Product(_n.Activation("dO", t.Left), _n.Weight("K", t.Right)),
            }).ToList();
            var dropped = f.Excluded.Select(e => new Dropped(pass switch
            {
                FormulaPass.Forward => new Product(_n.Activation("I", e.Left), _n.Weight("K", e.Right)),
                FormulaPass.KernelGradient => new Product(_n.Activation("I", e.Left), _n.Activation("dO", e.Right)),
                _ => new Product(_n.Activation("dO", e.Left), _n.Weight("K", e.Right)),
            }, Reason(e.Why, pass))).ToList();
            string? note = rhs.Count == 0 && pass == FormulaPass.InputGradient ? "no output reads this position" : null;
            eqs.Add(new Equation(lhs, rhs, dropped, note));
        }
        _blocks.Add(new EquationList(eqs));
    }

    private string Reason(Exclusion why, FormulaPass pass)
    {
        string axis = _n.AxisNames[why.Axis];
        string v = _n.Format(why.Value);
        string first = _n.Format(0), last = _n.Format(why.Size - 1);
        if (pass != FormulaPass.InputGradient)
        {
            return $"I {axis} {v} is in the zero padding {(why.Kind == ExclusionKind.BeforeStart ? "before" : "after")} the input ({axis}s {first}..{last})";
        }
        return why.Kind switch
        {
            ExclusionKind.NotWhole => $"dO {axis} {v} is not a whole number (stride {why.Stride})",
            ExclusionKind.BeforeStart => $"dO {axis} {v} < {first}",
            _ => $"dO {axis} {v} > {last}, the last output {axis}",
        };
    }

    /// <summary>The zero-inserted dO (spaced by <paramref name="s"/>) shifted by <paramref name="before"/>: the dO element at position t, or null for a zero.</summary>
    private Sym? Dilated(int[] t, int[] s, int[] before)
    {
        var o = new int[t.Length];
        for (int a = 0; a < t.Length; a++)
        {
            int u = t[a] - before[a];
            if (u < 0 || u % s[a] != 0 || u / s[a] >= _p.OutputSize[Derivation.Axis3(_p, a)])
            {
                return null;
            }
            o[a] = u / s[a];
        }
        return _n.Spatial("dO", o);
    }

    private void Matrix(string name, int[] size, Func<int[], Sym?> cell)
    {
        var slices = new List<MatrixSlice>();
        int depth = _p.Dims == 3 ? size[0] : 1;
        int rows = _p.Dims >= 2 ? size[^2] : 1;
        int cols = size[^1];
        for (int z = 0; z < depth; z++)
        {
            var r = new List<IReadOnlyList<Sym?>>();
            for (int y = 0; y < rows; y++)
            {
                var row = new List<Sym?>();
                for (int x = 0; x < cols; x++)
                {
                    int[] t = _p.Dims switch { 1 => [x], 2 => [y, x], _ => [z, y, x] };
                    row.Add(cell(t));
                }
                r.Add(row);
            }
            slices.Add(new MatrixSlice(_p.Dims == 3 ? $"depth {_n.Format(z)}" : null, r));
        }
        _blocks.Add(new MatrixBlock(name, slices));
    }

    private string PaddingWords()
    {
        var g = _d.Geometry;
        return g.PaddingBefore.SequenceEqual(g.PaddingAfter) ? List(g.PaddingBefore) : $"{List(g.PaddingBefore)} before / {List(g.PaddingAfter)} after";
    }

    private string Plural(int axis, int count) => _n.AxisNames[axis] + (count == 1 ? "" : "s");

    private int PadAfter(int a) => _d.Geometry.PaddingAfter[a];

    private int[] Spatial(int[] widened) => widened[(3 - _p.Dims)..];

    private string Positions(int[] zeroBased) => string.Join(", ", zeroBased.Select(i => _n.Format(i)));

    private void Heading(string text) => _blocks.Add(new Heading(text));

    private void Para(string text) => _blocks.Add(new Paragraph(text));

    private static string Dims(IEnumerable<int> sizes) => string.Join("x", sizes);

    private static string List(IEnumerable<int> values)
    {
        var v = values.ToArray();
        return v.Distinct().Count() == 1 ? v[0].ToString(CultureInfo.InvariantCulture) : string.Join(",", v);
    }

    private static string Num(double v) => v == 0 ? "0" : v.ToString("0.0e+0", CultureInfo.InvariantCulture);

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
