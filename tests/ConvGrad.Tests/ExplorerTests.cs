using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using ConvGrad.Cli.Explorer;
using ConvGrad.Explain;
using CsCheck;

namespace ConvGrad.Tests;

/// <summary>
/// The derivation explorer without a browser: its JSON endpoint answers with the CLI's formulas and messages, refuses
/// what it cannot draw at once, never fails with anything but 400 on user input, serves on loopback and reports a
/// port in use; its compact-rule windows and phases agree with the derived formulas; <c>--html</c> is self-contained.
/// </summary>
public class ExplorerTests
{
    private static JsonElement Ok(params (string Key, string Value)[] query)
    {
        var (status, body) = ExplorerApi.Answer(query.Select(q => new KeyValuePair<string, string>(q.Key, q.Value)));
        Assert.True(status == 200, body);
        return JsonDocument.Parse(body).RootElement;
    }

    [Fact]
    public void EmptyQuery_IsTheSeedCase_WithTheCliFormulasAndText()
    {
        var root = Ok();
        Assert.Equal("4x4", root.GetProperty("query").GetProperty("input").GetString());
        Assert.Equal("2", root.GetProperty("query").GetProperty("stride").GetString());
        var model = root.GetProperty("model");
        var (code, cli, err) = Cli.Run("explain", "--input", "4x4", "--kernel", "2x2", "--stride", "2");
        Assert.True(code == 0, err);
        Assert.Equal(cli.ReplaceLineEndings("\n"), model.GetProperty("text").GetString());
        var lines = cli.ReplaceLineEndings("\n").Split('\n');
        var formulas = model.GetProperty("formulas").EnumerateArray().ToList();
        Assert.Equal(24, formulas.Count);
        Assert.All(formulas, f => Assert.Contains(f.GetProperty("text").GetString(), lines));
        var di11 = formulas.Single(f => f.GetProperty("cell").GetString() == "dI(1,1)");
        var product = Assert.Single(di11.GetProperty("products").EnumerateArray());
        Assert.Equal(("dO(1,1)", "K(1,1)"), (product.GetProperty("a").GetString(), product.GetProperty("b").GetString()));
    }

    /// <summary>
    /// A bad geometry is 400 with a message in the page's words (the form's labels, no CLI flag, no .NET parameter name)
    /// and the field to correct; the CLI refuses the same geometry with the same message in its own words (its flags).
    /// </summary>
    [Theory]
    [InlineData("input=3x3&kernel=5x5", "kernel",
        "kernel 5x5 does not fit: the dilated kernel (5 = dilation 1 × (5 − 1) + 1) is larger than the padded input (3 = 3 + 0 + 0) on the row axis",
        "--kernel 5x5 does not fit: the dilated kernel (5 = dilation 1 × (5 − 1) + 1) is larger than the padded input (3 = 3 + 0 + 0) on the row axis")]
    [InlineData("input=4x4&kernel=2x2&stride=0", "stride", "stride must be at least 1 on every axis; got 0", "--stride must be at least 1 on every axis; got 0")]
    [InlineData("input=4x4&kernel=2x2&padding=1,1,1", "padding",
        "padding needs one value, one per axis (2) or befores then afters (4: top,left,bottom,right); got 3",
        "--padding needs one value, one per axis (2) or befores then afters (4: top,left,bottom,right); got 3")]
    [InlineData("input=4x4&kernel=2", "kernel", "kernel 2 has 1 axis but input 4x4 has 2", "--kernel 2 has 1 axis but --input 4x4 has 2")]
    [InlineData("input=4x4&kernel=2x2&channels=3&groups=2", "groups",
        "channels 3 and output channels 1 must both be divisible by groups 2", "--channels 3 and --out-channels 1 must both be divisible by --groups 2")]
    [InlineData("input=4x4&kernel=2x2&out-channels=9", "out-channels", "output channels must be between 1 and 8; got 9", "--out-channels must be between 1 and 8; got 9")]
    public void InvalidGeometry_Is400InThePagesWords_AndTheCliSaysTheSameInItsOwn(string query, string field, string message, string cliMessage)
    {
        var (status, body) = ExplorerApi.Answer(Query(query));
        Assert.Equal(400, status);
        var error = JsonDocument.Parse(body).RootElement;
        Assert.Equal(message, error.GetProperty("error").GetString());
        Assert.Equal(field, error.GetProperty("field").GetString());
        var (code, _, err) = Cli.Run(["explain", .. Query(query).SelectMany(kv => new[] { "--" + kv.Key, kv.Value })]);
        Assert.Equal(2, code);
        Assert.Equal("convgrad explain: " + cliMessage, err.Trim());
    }

    [Theory]
    [InlineData("input=5000x5000&kernel=3x3", "input", "input 5000x5000 is larger than the page draws (input at most 12 per axis")]
    [InlineData("input=8x8x8&kernel=2x2x2", "input", "input 8x8x8 has 3 axes; the explorer draws 1-D and 2-D geometries (convgrad explain prints 3-D ones as text)")]
    [InlineData("input=12x12&kernel=7x7&padding=6", null, "too large: this geometry has 38,808 formula terms, more than the 10,000 that both the explorer and convgrad explain show; it fits with input 3x3")]
    [InlineData("input=99999999999999&kernel=1", "input", "input must be whole numbers such as 8 or 4x4; got '99999999999999'")]
    [InlineData("input=4x4&kernel=2x2&strde=2", null, "the address names an unknown field 'strde'")]
    public void TooLargeOrUnknown_IsRefusedInThePagesWords(string query, string? field, string expected)
    {
        var (status, body) = ExplorerApi.Answer(Query(query));
        Assert.Equal(400, status);
        var error = JsonDocument.Parse(body).RootElement;
        Assert.StartsWith(expected, error.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(field, error.GetProperty("field").GetString());
    }

    /// <summary>
    /// The cases: the page's advice never contradicts the CLI. A geometry the page cannot draw but the CLI can
    /// print says so; one neither shows says what the page can show instead, and every offered alternative loads.
    /// </summary>
    [Theory]
    [InlineData("input=13x13&kernel=3x3", true)]
    [InlineData("input=64x64&kernel=7x7&stride=2", false)]
    [InlineData("input=12x12&kernel=7x7&padding=6", false)]
    [InlineData("input=6x6&kernel=3x3&channels=8&out-channels=8&batch=4", false)]
    public void AdviceAgreesWithTheCli_AndEveryAlternativeLoads(string query, bool cliPrints)
    {
        var (status, body) = ExplorerApi.Answer(Query(query));
        Assert.Equal(400, status);
        var error = JsonDocument.Parse(body).RootElement;
        string message = error.GetProperty("error").GetString()!;
        var args = Query(query).SelectMany(kv => new[] { "--" + kv.Key, kv.Value }).ToArray();
        var (code, _, err) = Cli.Run(["explain", .. args, "--sections", "verify"]);
        Assert.Equal(cliPrints ? 0 : 2, code);
        Assert.Equal(cliPrints, message.Contains("convgrad explain prints it as text", StringComparison.Ordinal));
        if (!cliPrints)
        {
            Assert.Contains("more than the 10,000", err, StringComparison.Ordinal);
        }
        var instead = error.GetProperty("instead").EnumerateArray().ToList();
        Assert.NotEmpty(instead);
        foreach (var a in instead)
        {
            var q = a.GetProperty("query").EnumerateObject().Select(p => new KeyValuePair<string, string>(p.Name, p.Value.GetString()!));
            var (okStatus, okBody) = ExplorerApi.Answer(q);
            Assert.True(okStatus == 200, a.GetProperty("change").GetString() + ": " + okBody);
        }
    }

    [Fact]
    public void AnyQuery_Is200Or400_Never500_AndErrorsUseThePagesWords()
    {
        var key = Gen.OneOf("input", "kernel", "stride", "padding", "dilation", "seed", "channels", "out-channels", "batch", "groups", "base", "x");
        var value = Gen.OneOf(
            Gen.Select(Gen.Int[-3, 14].Array[0, 4], Gen.OneOf("x", ",")).Select(t => string.Join(t.Item2, t.Item1)),
            Gen.String[0, 12]);
        Gen.Select(key, value).Array[0, 6].Sample(q =>
        {
            var (status, body) = ExplorerApi.Answer(q.GroupBy(kv => kv.Item1).Select(g => new KeyValuePair<string, string>(g.Key, g.First().Item2)));
            if (status == 200)
            {
                return true;
            }
            string error = JsonDocument.Parse(body).RootElement.GetProperty("error").GetString()!;
            // The page may quote what the reader typed (which can itself hold "--"), as typed or trimmed as the form
            // reads it; the rest of the message must use the page's words: no CLI flag and no .NET parameter name.
            string ownWords = q.SelectMany(kv => new[] { kv.Item2, kv.Item2.Trim() }).Where(v => v.Length > 0).Distinct().OrderByDescending(v => v.Length)
                .Aggregate(error, (e, v) => e.Replace(v, "", StringComparison.Ordinal));
            return status == 400 && !ownWords.Contains("--", StringComparison.Ordinal) && !ownWords.Contains("Parameter", StringComparison.Ordinal);
        }, iter: 200);
    }

    [Fact]
    public async Task Server_OnLoopback_RefusesHugeInput_AndKeepsServing()
    {
        var (app, url) = await ExplorerServer.StartAsync(IPAddress.Loopback, 0);
        try
        {
            Assert.StartsWith("http://127.0.0.1:", url, StringComparison.Ordinal);
            using var http = new HttpClient();
            var huge = await http.GetAsync(url + "api/explain?input=5000x5000&kernel=3x3");
            Assert.Equal(HttpStatusCode.BadRequest, huge.StatusCode);
            var long1 = await http.GetAsync(url + "api/explain?input=" + new string('9', 3000) + "&kernel=3");
            Assert.Equal(HttpStatusCode.BadRequest, long1.StatusCode);
            var seed = await http.GetAsync(url + "api/explain?input=4x4&kernel=2x2&stride=2");
            Assert.Equal(HttpStatusCode.OK, seed.StatusCode);
            var page = await http.GetAsync(url + "?input=4x4&kernel=2x2&stride=2");
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Contains("default-src 'none'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public void PortInUse_IsOneLineAndExit2()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var (code, o, e) = Cli.Run("explain", "--serve", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(2, code);
        Assert.Equal("", o);
        Assert.Equal($"convgrad explain: port {port} on 127.0.0.1 is in use; choose another with --port N (0 picks a free one)", e.Trim());
    }

    [Fact]
    public void Html_IsOneSelfContainedFile()
    {
        var dir = Cli.TempDir();
        try
        {
            string file = Path.Combine(dir.FullName, "x.html");
            var (code, o, e) = Cli.Run("explain", "--input", "8", "--kernel", "3", "--stride", "2", "--padding", "1,2", "--html", file);
            Assert.True(code == 0, e);
            Assert.Contains("x.html: the derivation explorer for input 8, kernel 3, stride 2, padding 1 before / 2 after", o, StringComparison.Ordinal);
            string html = File.ReadAllText(file);
            Assert.Contains("id=\"explain-data\"", html, StringComparison.Ordinal);
            Assert.Contains("Content-Security-Policy", html, StringComparison.Ordinal);
            foreach (var banned in new[] { "http://", "https://", " src=", "<link", "@import", "url(" })
            {
                Assert.DoesNotContain(banned, html, StringComparison.OrdinalIgnoreCase);
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("--input", "4x4", "--kernel", "2x2", "--format", "latex", "--html", "x.html")]
    [InlineData("--input", "3x3x3", "--kernel", "2x2x2", "--html", "x.html")]
    [InlineData("--serve", "--input", "4x4")]
    [InlineData("--serve", "--host", "localhost")]
    public void ExplorerOptions_Misused_Exit2(params string[] args)
    {
        var (code, _, e) = Cli.Run(["explain", .. args]);
        Assert.Equal(2, code);
        Assert.Single(e.Trim().Split('\n'));
    }

    /// <summary>
    /// For random 1-D and 2-D geometries: rot180(K) over dO″ at each dI cell covers exactly the products of that
    /// cell's formula (the rest lie over zeros).
    /// </summary>
    [Fact]
    public void Windows_AgreeWithTheDerivedFormulas()
    {
        RandomGeometries().Sample(t =>
        {
            var m = ExplorerModel.Build(Derive(t, 1, 1, 1, 1), seed: 1);
            Assert.True(m.Verified);
            var formulas = m.Formulas.Where(f => f.Cell.StartsWith("dI(", StringComparison.Ordinal)).ToDictionary(f => f.Cell);
            Assert.Equal(formulas.Keys.Order(), m.Compact.Windows.Select(w => w.Cell).Order());
            foreach (var w in m.Compact.Windows)
            {
                var fromWindow = w.Taps.Where(x => x.Under is not null).Select(x => (x.Under!, x.Tap)).Order().ToList();
                var fromFormula = formulas[w.Cell].Products.Select(p => (p.A, p.B)).Order().ToList();
                Assert.Equal(fromFormula, fromWindow);
            }
        }, iter: 40);
    }

    /// <summary>Random 1-D and 2-D geometries (input, kernel, stride, dilation, befores then afters) whose dilated kernel fits.</summary>
    internal static Gen<(int[], int[], int[], int[], int[])> RandomGeometries() =>
        Gen.Int[1, 2].SelectMany(dims =>
            Gen.Select(Gen.Int[1, 7].Array[dims], Gen.Int[1, 3].Array[dims], Gen.Int[1, 3].Array[dims], Gen.Int[1, 2].Array[dims], Gen.Int[0, 2].Array[2 * dims]))
        .Where(t => Enumerable.Range(0, t.Item1.Length).All(a => t.Item4[a] * (t.Item2[a] - 1) + 1 <= t.Item1[a] + t.Item5[a] + t.Item5[t.Item1.Length + a]));

    /// <summary>Derives a random geometry with the given batch, channels, output channels and groups.</summary>
    internal static Derivation Derive((int[] Input, int[] Kernel, int[] Stride, int[] Dilation, int[] Pad) t, int n, int c, int k, int groups)
    {
        int dims = t.Input.Length;
        var g = new ConvGeometry(t.Stride, t.Pad[..dims], t.Pad[dims..], t.Dilation, groups);
        return Derivation.Derive(g, [n, c, .. t.Input], [k, c / groups, .. t.Kernel]);
    }

    private static IEnumerable<KeyValuePair<string, string>> Query(string q) =>
        q.Split('&').Select(p => p.Split('=', 2)).Select(p => new KeyValuePair<string, string>(p[0], p[1]));
}
