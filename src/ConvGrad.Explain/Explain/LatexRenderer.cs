using System.Text;

namespace ConvGrad.Explain;

/// <summary>A LaTeX fragment (amsmath): sections, prose with the symbols in math mode, <c>align*</c> formulas and <c>bmatrix</c> matrices.</summary>
internal sealed class LatexRenderer : IDocumentRenderer
{
    private const int TermsPerLine = 4;

    private static readonly (string Unicode, string Latex)[] Symbols =
    [
        ("·", "$\\cdot$"), ("⋆", "$\\star$"), ("−", "$-$"), ("≤", "$\\le$"), ("≥", "$\\ge$"), ("≠", "$\\ne$"),
        ("°", "$^\\circ$"), ("Σ", "$\\Sigma$"), ("×", "$\\times$"), ("∂", "$\\partial$"), ("→", "$\\to$"),
        ("—", "---"), ("⌊", "$\\lfloor$"), ("⌋", "$\\rfloor$"), ("′", "$'$"), ("″", "$''$"), ("∈", "$\\in$"), ("…", "\\ldots{}"),
    ];

    public string Render(Document document)
    {
        var sb = new StringBuilder();
        sb.Append("% requires \\usepackage{amsmath}\n");
        sb.Append("\\subsection*{").Append(Escape(document.Title)).Append("}\n");
        foreach (var block in document.Blocks)
        {
            sb.Append('\n');
            switch (block)
            {
                case Heading h:
                    sb.Append("\\subsubsection*{").Append(Escape(h.Text)).Append("}\n");
                    break;
                case Paragraph p:
                    sb.Append(Escape(p.Text)).Append('\n');
                    break;
                case VerdictLine v:
                    sb.Append("\\textbf{").Append(Escape(v.Text)).Append("}\n");
                    break;
                case EquationList e:
                    Equations(sb, e);
                    break;
                case MatrixBlock m:
                    Matrix(sb, m);
                    break;
            }
        }
        return sb.ToString();
    }

    private static void Equations(StringBuilder sb, EquationList list)
    {
        sb.Append("\\begin{align*}\n");
        foreach (var e in list.Equations)
        {
            sb.Append(Math(e.Lhs)).Append(" &= ");
            if (e.Rhs.Count == 0)
            {
                sb.Append('0');
            }
            for (int i = 0; i < e.Rhs.Count; i++)
            {
                if (i > 0)
                {
                    sb.Append(i % TermsPerLine == 0 ? " \\\\\n  &\\quad + " : " + ");
                }
                sb.Append(Math(e.Rhs[i].A)).Append("\\,").Append(Math(e.Rhs[i].B));
            }
            if (e.Note is not null)
            {
                sb.Append(" && \\text{").Append(Escape(e.Note)).Append('}');
            }
            sb.Append(" \\\\\n");
            foreach (var d in e.Dropped)
            {
                sb.Append("  & && \\text{dropped } ").Append(Math(d.Term.A)).Append("\\,").Append(Math(d.Term.B))
                  .Append("\\text{: ").Append(Escape(d.Reason)).Append("} \\\\\n");
            }
        }
        sb.Append("\\end{align*}\n");
    }

    private static void Matrix(StringBuilder sb, MatrixBlock m)
    {
        sb.Append("\\[\n");
        bool first = true;
        foreach (var slice in m.Slices)
        {
            if (!first)
            {
                sb.Append(",\\quad\n");
            }
            first = false;
            sb.Append(Name(m.Name));
            if (slice.Label is not null)
            {
                sb.Append("\\big|_{\\text{").Append(Escape(slice.Label)).Append("}}");
            }
            sb.Append(" = \\begin{bmatrix}\n");
            foreach (var row in slice.Rows)
            {
                sb.Append("  ").Append(string.Join(" & ", row.Select(c => c is null ? "0" : Math(c)))).Append(" \\\\\n");
            }
            sb.Append("\\end{bmatrix}");
        }
        sb.Append("\n\\]\n");
    }

    private static string Math(Sym s) => Name(s.Name) + "_{" + string.Join(",", s.Indices.Select(Index)) + "}";

    private static string Index(string i)
    {
        int slash = i.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? i : $"\\frac{{{i[..slash]}}}{{{i[(slash + 1)..]}}}";
    }

    private static string Name(string name) => name switch
    {
        _ when name.StartsWith('d') && name.Length > 1 => "\\mathrm{d}" + Name(name[1..]),
        _ when name.EndsWith('″') => Name(name[..^1]) + "''",
        _ when name.EndsWith('′') => Name(name[..^1]) + "'",
        "rot180(K)" => "\\operatorname{rot}_{180}(K)",
        _ => name,
    };

    private static string Escape(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (char c in s)
        {
            sb.Append(c switch
            {
                '\\' => "\\textbackslash{}",
                '{' or '}' or '_' or '&' or '%' or '$' or '#' => "\\" + c,
                '^' => "\\^{}",
                '~' => "\\~{}",
                _ => c.ToString(),
            });
        }
        string r = sb.ToString();
        foreach (var (u, l) in Symbols)
        {
            r = r.Replace(u, l, StringComparison.Ordinal);
        }
        return r;
    }
}
