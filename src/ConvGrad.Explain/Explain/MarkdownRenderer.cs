using System.Text;

namespace ConvGrad.Explain;

/// <summary>Markdown: headings and prose as markdown; formulas and matrices in fenced blocks so that they stay aligned.</summary>
internal sealed class MarkdownRenderer : IDocumentRenderer
{
    public string Render(Document document)
    {
        var sb = new StringBuilder();
        sb.Append("### ").Append(document.Title).Append('\n');
        foreach (var block in document.Blocks)
        {
            sb.Append('\n');
            switch (block)
            {
                case Heading h:
                    sb.Append("#### ").Append(h.Text).Append('\n');
                    break;
                case Paragraph p:
                    sb.Append(Escape(p.Text)).Append('\n');
                    break;
                case VerdictLine v:
                    sb.Append("**").Append(Escape(v.Text)).Append("**\n");
                    break;
                default:
                    sb.Append("```text\n");
                    foreach (var line in TextRenderer.Lines(block))
                    {
                        sb.Append(line).Append('\n');
                    }
                    sb.Append("```\n");
                    break;
            }
        }
        return sb.ToString();
    }

    private static string Escape(string s) => s.Replace("*", "\\*", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);
}
