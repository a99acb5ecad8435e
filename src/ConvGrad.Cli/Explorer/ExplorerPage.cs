using System.Globalization;
using System.Reflection;
using ConvGrad.Explain;

namespace ConvGrad.Cli.Explorer;

/// <summary>
/// The explorer page as one HTML document: the template with its style and script inlined, and, for
/// <c>explain --html</c>, the model embedded as JSON so that the file works offline from <c>file://</c>. Nothing on
/// the page comes from the network; its Content-Security-Policy forbids it.
/// </summary>
internal static class ExplorerPage
{
    /// <summary>Inline style and script only; the served page may fetch its own JSON endpoint, nothing else.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; form-action 'self'; base-uri 'none'";

    /// <summary>The page, its limits filled in from <see cref="ExplainLimits"/>; with <paramref name="embeddedJson"/> (<see cref="ExplorerApi.SerializeBothBases"/>) it draws that geometry without a server.</summary>
    public static string Html(string? embeddedJson)
    {
        string data = embeddedJson is null ? "" : $"<script type=\"application/json\" id=\"explain-data\">{embeddedJson}</script>";
        return Resource("explorer.html")
            .Replace("/*STYLE*/", Resource("explorer.css"), StringComparison.Ordinal)
            .Replace("/*SCRIPT*/", Resource("explorer.js"), StringComparison.Ordinal)
            .Replace("<!--DATA-->", data, StringComparison.Ordinal)
            .Replace("{{CSP}}", ContentSecurityPolicy, StringComparison.Ordinal)
            .Replace("{{MAX_INPUT}}", Inv(ExplainLimits.MaxDrawnInput), StringComparison.Ordinal)
            .Replace("{{MAX_KERNEL}}", Inv(ExplainLimits.MaxDrawnKernel), StringComparison.Ordinal)
            .Replace("{{MAX_STEP}}", Inv(ExplainLimits.MaxDrawnStep), StringComparison.Ordinal)
            .Replace("{{MAX_CHANNELS}}", Inv(ExplainLimits.MaxChannels), StringComparison.Ordinal)
            .Replace("{{MAX_BATCH}}", Inv(ExplainLimits.MaxBatch), StringComparison.Ordinal)
            .Replace("{{MAX_GROUPS}}", Inv(ExplainLimits.MaxGroups), StringComparison.Ordinal)
            .Replace("{{MAX_TERMS}}", ExplainLimits.MaxTerms.ToString("N0", CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    private static string Inv(int v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Resource(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("ConvGrad.Cli.Explorer." + name)
            ?? throw new InvalidOperationException($"the explorer resource {name} is missing from the build");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
