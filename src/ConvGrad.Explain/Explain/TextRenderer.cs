using System.Text;

namespace ConvGrad.Explain;

/// <summary>Plain text for a terminal: <c>O(1,1) = I(1,1)·K(1,1) + …</c>, wrapped at <see cref="Width"/> columns.</summary>
internal sealed class TextRenderer : IDocumentRenderer
{
    public const int Width = 100;

    public string Render(Document document)
    {
        var sb = new StringBuilder();
        sb.Append(document.Title).Append('\n').Append(new string('=', Math.Min(document.Title.Length, Width))).Append('\n');
        foreach (var block in document.Blocks)
        {
            sb.Append('\n');
            switch (block)
            {
                case Heading h:
                    sb.Append(h.Text).Append('\n').Append(new string('-', h.Text.Length)).Append('\n');
                    break;
                case Paragraph p:
                    foreach (var line in Wrap(p.Text, Width, ""))
                    {
                        sb.Append(line).Append('\n');
                    }
                    break;
                case VerdictLine v:
                    sb.Append(v.Text).Append('\n');
                    break;
                default:
                    foreach (var line in Lines(block))
                    {
                        sb.Append(line).Append('\n');
                    }
                    break;
            }
        }
        return sb.ToString();
    }

    /// <summary>The lines of an equation list or matrix, shared with the markdown renderer (which fences them).</summary>
    public static IEnumerable<string> Lines(Block block) => block switch
    {
        EquationList e => EquationLines(e),
        MatrixBlock m => MatrixLines(m),
        _ => [],
    };

    public static string Format(Sym s) => $"{s.Name}({string.Join(",", s.Indices)})";

    public static string Format(Product p) => $"{Format(p.A)}·{Format(p.B)}";

    /// <summary>A dropped term as its line reads: <c>dropped dO(1/2,1)·K(2,1): dO row 1/2 is not a whole number (stride 2)</c>.</summary>
    public static string Format(Dropped d) => $"dropped {Format(d.Term)}: {d.Reason}";

    /// <summary>One equation on one line, unpadded and unwrapped: <c>dI(1,1) = dO(1,1)·K(1,1)</c>.</summary>
    public static string Format(Equation e) => Format(e.Lhs) + " = " + RightHandSide(e);

    private static string RightHandSide(Equation e)
    {
        string rhs = e.Rhs.Count == 0 ? "0" : string.Join(" + ", e.Rhs.Select(Format));
        return e.Note is null ? rhs : rhs + "   (" + e.Note + ")";
    }

    private static IEnumerable<string> EquationLines(EquationList list)
    {
        int lhsWidth = list.Equations.Count == 0 ? 0 : list.Equations.Max(e => Format(e.Lhs).Length);
        foreach (var e in list.Equations)
        {
            string head = Format(e.Lhs).PadRight(lhsWidth) + " = ";
            bool first = true;
            foreach (var line in Wrap(RightHandSide(e), Width - head.Length, "", " + "))
            {
                yield return (first ? head : new string(' ', head.Length)) + line;
                first = false;
            }
            foreach (var d in e.Dropped)
            {
                yield return new string(' ', head.Length) + Format(d);
            }
        }
    }

    private static IEnumerable<string> MatrixLines(MatrixBlock m)
    {
        foreach (var slice in m.Slices)
        {
            string head = slice.Label is null ? m.Name + " = " : $"{m.Name} [{slice.Label}] = ";
            var cells = slice.Rows.Select(r => r.Select(c => c is null ? "0" : Format(c)).ToArray()).ToArray();
            int cols = cells.Max(r => r.Length);
            var widths = Enumerable.Range(0, cols).Select(j => cells.Max(r => j < r.Length ? r[j].Length : 0)).ToArray();
            for (int i = 0; i < cells.Length; i++)
            {
                string bracket = cells.Length == 1 ? "[ " : i == 0 ? "⎡ " : i == cells.Length - 1 ? "⎣ " : "⎢ ";
                string close = cells.Length == 1 ? " ]" : i == 0 ? " ⎤" : i == cells.Length - 1 ? " ⎦" : " ⎥";
                string padded = string.Join("  ", cells[i].Select((c, j) => c.PadRight(widths[j])));
                yield return (i == (cells.Length - 1) / 2 ? head : new string(' ', head.Length)) + bracket + padded + close;
            }
        }
    }

    /// <summary>Greedy word wrap; with <paramref name="separator"/>, breaks only at it and keeps it at the end of the line.</summary>
    public static IEnumerable<string> Wrap(string text, int width, string indent, string separator = " ")
    {
        var pieces = text.Split(separator);
        var line = new StringBuilder();
        for (int i = 0; i < pieces.Length; i++)
        {
            string piece = pieces[i] + (i < pieces.Length - 1 ? separator : "");
            if (line.Length > 0 && line.Length + piece.TrimEnd().Length > width)
            {
                yield return line.ToString().TrimEnd();
                line.Clear().Append(indent);
            }
            line.Append(piece);
        }
        if (line.Length > 0)
        {
            yield return line.ToString().TrimEnd();
        }
    }
}
