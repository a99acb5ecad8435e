using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using ConvGrad.Explain;

namespace ConvGrad.Cli.Explorer;

/// <summary>The answer of the explorer's JSON endpoint: the query in the CLI's forms and the model the page draws.</summary>
/// <param name="Query">The geometry as the form shows it (input, kernel, stride, padding, dilation, seed).</param>
/// <param name="Model">Everything the page draws.</param>
internal sealed record ExplorerResponse(IReadOnlyDictionary<string, string> Query, ExplorerModel Model);

/// <summary>
/// The explorer's JSON endpoint, <c>GET /api/explain?input=…</c>, without the HTTP server around it: 200 with the
/// model, or 400 with <c>{"error": …}</c> carrying the message the CLI prints for the same geometry.
/// </summary>
internal static class ExplorerApi
{
    /// <summary>
    /// camelCase JSON with the formulas' symbols (·, ⋆, ′) written as they are; the encoder still escapes &lt;, &gt;,
    /// &amp; and quotes, so the JSON can sit inside a &lt;script&gt; element.
    /// </summary>
    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web) { Encoder = JavaScriptEncoder.Create(UnicodeRanges.All) };

    /// <summary>Answers one query.</summary>
    public static (int Status, string Body) Answer(IEnumerable<KeyValuePair<string, string>> query)
    {
        try
        {
            var request = ExplorerRequest.FromQuery(query);
            return (200, Serialize(request));
        }
        catch (Exception e) when (e is UsageException or ArgumentException or FormatException or OverflowException)
        {
            return (400, JsonSerializer.Serialize(new { error = e.Message.ReplaceLineEndings(" ") }, Json));
        }
    }

    /// <summary>The response for a request that is known to be valid (also what <c>--html</c> embeds).</summary>
    public static string Serialize(ExplorerRequest request) => Serialize(request, request.Derive());

    /// <summary>The response for a request and its derived model.</summary>
    public static string Serialize(ExplorerRequest request, ExplorerModel model) =>
        JsonSerializer.Serialize(new ExplorerResponse(request.Query, model), Json);
}
