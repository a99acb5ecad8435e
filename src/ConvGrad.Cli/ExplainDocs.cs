using System.Text;
using System.Text.RegularExpressions;

namespace ConvGrad.Cli;

/// <summary>
/// Keeps the explain output embedded in a markdown file (docs/derivation.md) generated: every block between
/// <c>&lt;!-- convgrad explain ARGS --&gt;</c> and <c>&lt;!-- end convgrad explain --&gt;</c> is the markdown output
/// of <c>convgrad explain ARGS --format markdown</c>.
/// </summary>
internal static partial class ExplainDocs
{
    public const string EndMarker = "<!-- end convgrad explain -->";

    [GeneratedRegex(@"^<!-- convgrad explain (?<args>[^>]*?) -->\n(?<body>.*?)^<!-- end convgrad explain -->$", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex Block();

    /// <summary>The file's text with every marked block regenerated; <paramref name="blocks"/> is how many there were.</summary>
    public static string Regenerate(string markdown, out int blocks)
    {
        int count = 0;
        string text = markdown.ReplaceLineEndings("\n");
        string result = Block().Replace(text, m =>
        {
            count++;
            string args = m.Groups["args"].Value;
            return $"<!-- convgrad explain {args} -->\n{Generate(args)}{EndMarker}";
        });
        blocks = count;
        return result;
    }

    /// <summary>Rewrites the marked blocks of <paramref name="path"/>; returns how many there were.</summary>
    public static int Update(string path)
    {
        string text = Read(path);
        string updated = Regenerate(text, out int blocks);
        if (updated != text.ReplaceLineEndings("\n"))
        {
            File.WriteAllText(path, updated, new UTF8Encoding(false));
        }
        return blocks;
    }

    /// <summary>The first marked block of <paramref name="path"/> whose text differs from a fresh generation, or null when all are current.</summary>
    public static string? FirstStale(string path, out int blocks)
    {
        string text = Read(path).ReplaceLineEndings("\n");
        string fresh = Regenerate(text, out blocks);
        var old = Block().Matches(text);
        var now = Block().Matches(fresh);
        for (int i = 0; i < old.Count; i++)
        {
            if (old[i].Value != now[i].Value)
            {
                return old[i].Groups["args"].Value;
            }
        }
        return null;
    }

    private static string Read(string path) =>
        File.Exists(path) ? File.ReadAllText(path) : throw new UsageException($"no such file: {path}");

    private static string Generate(string args)
    {
        var argv = args.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (argv.Any(a => a is "--format" || a.StartsWith("--format=", StringComparison.Ordinal) || a.EndsWith("-docs", StringComparison.Ordinal)))
        {
            throw new UsageException($"a docs block sets its own format; remove --format/--*-docs from '<!-- convgrad explain {args} -->'");
        }
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        int code = Program.Run(["explain", .. argv, "--format", "markdown"], stdout, stderr);
        if (code != ExitCodes.Success)
        {
            throw new UsageException($"'convgrad explain {args}' in a docs block failed (exit {code}): {stderr.ToString().Trim()}");
        }
        return stdout.ToString();
    }
}
