using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using ConvGrad.Explain;

namespace ConvGrad.Cli.Explorer;

/// <summary>The answer of the explorer's JSON endpoint: the query as the form shows it and the model the page draws.</summary>
/// <param name="Query">The geometry as the form shows it (input, kernel, stride, padding, dilation, channels, out-channels, batch, groups, seed, base).</param>
/// <param name="Model">Everything the page draws.</param>
internal sealed record ExplorerResponse(IReadOnlyDictionary<string, string> Query, ExplorerModel Model);

/// <summary>A smaller geometry the page can show instead of one it cannot: the change in words and its query.</summary>
/// <param name="Change">What changes, e.g. <c>output channels 1</c>.</param>
/// <param name="Query">The query of the smaller geometry.</param>
internal sealed record ExplorerAlternative(string Change, IReadOnlyDictionary<string, string> Query);

/// <summary>The answer to a query the page cannot show: the message in the page's words, the field to correct (its query key), and what the page can show instead.</summary>
/// <param name="Error">One line naming fields as the form labels them.</param>
/// <param name="Field">The query key of the field to correct, or null.</param>
/// <param name="Instead">Smaller geometries the page can show.</param>
internal sealed record ExplorerError(string Error, string? Field, IReadOnlyList<ExplorerAlternative> Instead);

/// <summary>
/// The explorer's JSON endpoint, <c>GET /api/explain?input=…</c>, without the HTTP server around it: 200 with the
/// model, or 400 with <c>{"error": …, "field": …, "instead": […]}</c> in the page's words.
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
        ExplorerRequest request;
        try
        {
            request = ExplorerRequest.FromQuery(query);
        }
        catch (ExplainInputException e)
        {
            return (400, Error(e, query));
        }
        try
        {
            return (200, Serialize(request));
        }
        catch (ArgumentException e)
        {
            // The request passed every check of the page, so the engine should accept it; should it not, its message
            // (without the .NET parameter name) is still an answer to the page, never a server error.
            string message = e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
            return (400, JsonSerializer.Serialize(new ExplorerError("the engine refused this geometry: " + message.ReplaceLineEndings(" "), null, []), Json));
        }
    }

    /// <summary>The response for a request that is known to be valid.</summary>
    public static string Serialize(ExplorerRequest request) => Serialize(request, request.Derive());

    /// <summary>The response for a request and its derived model.</summary>
    public static string Serialize(ExplorerRequest request, ExplorerModel model) =>
        JsonSerializer.Serialize(new ExplorerResponse(request.Query, model), Json);

    /// <summary>What <c>--html</c> embeds: the responses in both index bases (1-based first), so that the offline page can switch.</summary>
    public static string SerializeBothBases(ExplorerRequest request, ExplorerModel model)
    {
        var other = request.OtherBase();
        ExplorerResponse[] both = [new(request.Query, model), new(other.Query, other.Derive())];
        return JsonSerializer.Serialize(request.ZeroBased ? both.Reverse() : both, Json);
    }

    private static string Error(ExplainInputException e, IEnumerable<KeyValuePair<string, string>> query)
    {
        var instead = new List<ExplorerAlternative>();
        if (e.TooLarge)
        {
            // A geometry that is too large: the smaller ones the page can show, as links (only for a shape that parses).
            try
            {
                var parsed = ExplorerRequest.FromQueryUnchecked(query);
                instead.AddRange(parsed.Shape.Alternatives(ExplainScope.Page, ExplainFields.Page)
                    .Select(a => new ExplorerAlternative(a.Change, ExplorerRequest.QueryOf(a.Shape, parsed.Seed, parsed.ZeroBased))));
            }
            catch (ExplainInputException)
            {
                // The shape itself does not parse: nothing smaller to offer.
            }
        }
        return JsonSerializer.Serialize(new ExplorerError(e.Message.ReplaceLineEndings(" "), e.Field is { } f ? ExplainFields.Key(f) : null, instead), Json);
    }
}
