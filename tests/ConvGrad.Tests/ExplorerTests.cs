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

    [Theory]
    [InlineData("input=3x3&kernel=5x5", "--input 3x3 --kernel 5x5")]
    [InlineData("input=4x4&kernel=2x2&stride=0", "--input 4x4 --kernel 2x2 --stride 0")]
    [InlineData("input=4x4&kernel=2x2&padding=1,1,1", "--input 4x4 --kernel 2x2 --padding 1,1,1")]
    [InlineData("input=4x4&kernel=2", "--input 4x4 --kernel 2")]
    [InlineData("input=4x4&kernel=2x2&strde=2", "--input 4x4 --kernel 2x2 --strde 2")]
    [InlineData("input=4xa&kernel=2x2", "--input 4xa --kernel 2x2")]
    public void InvalidGeometry_Is400WithTheCliMessage(string query, string cliArgs)
    {
        var (status, body) = ExplorerApi.Answer(Query(query));
        Assert.Equal(400, status);
        var (code, _, err) = Cli.Run(["explain", .. cliArgs.Split(' ')]);
        Assert.Equal(2, code);
        Assert.Equal(err.Trim()["convgrad explain: ".Length..], JsonDocument.Parse(body).RootElement.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("input=5000x5000&kernel=3x3", "--input 5000x5000 is larger than the explorer draws")]
    [InlineData("input=8x8x8&kernel=2x2x2", "the explorer draws 1-D and 2-D geometries")]
    [InlineData("input=12x12&kernel=7x7", "too large to print")]
    [InlineData("input=99999999999999&kernel=1", "--input must be a list of integers")]
    public void TooLarge_IsRefusedWithAClearMessage(string query, string expected)
    {
        var (status, body) = ExplorerApi.Answer(Query(query));
        Assert.Equal(400, status);
        Assert.Contains(expected, JsonDocument.Parse(body).RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void AnyQuery_Is200Or400_Never500()
    {
        var key = Gen.OneOf("input", "kernel", "stride", "padding", "dilation", "seed", "x");
        var value = Gen.OneOf(
            Gen.Select(Gen.Int[-3, 14].Array[0, 4], Gen.OneOf("x", ",")).Select(t => string.Join(t.Item2, t.Item1)),
            Gen.String[0, 12]);
        Gen.Select(key, value).Array[0, 6].Sample(q =>
        {
            var (status, body) = ExplorerApi.Answer(q.GroupBy(kv => kv.Item1).Select(g => new KeyValuePair<string, string>(g.Key, g.First().Item2)));
            return status == 200 || (status == 400 && JsonDocument.Parse(body).RootElement.TryGetProperty("error", out _));
        }, iter: 300);
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
    [InlineData("--input", "4x4", "--kernel", "2x2", "--channels", "2", "--html", "x.html")]
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
    /// cell's formula (the rest lie over zeros), and every cell lies in one phase whose taps include its formula's taps
    /// and no tap of a term dropped as not whole.
    /// </summary>
    [Fact]
    public void WindowsAndPhases_AgreeWithTheDerivedFormulas()
    {
        var gen = Gen.Int[1, 2].SelectMany(dims =>
            Gen.Select(Gen.Int[1, 7].Array[dims], Gen.Int[1, 3].Array[dims], Gen.Int[1, 3].Array[dims], Gen.Int[1, 2].Array[dims], Gen.Int[0, 2].Array[2 * dims]));
        gen.Where(t => Enumerable.Range(0, t.Item1.Length).All(a => t.Item4[a] * (t.Item2[a] - 1) + 1 <= t.Item1[a] + t.Item5[a] + t.Item5[t.Item1.Length + a]))
           .Sample(t =>
        {
            var (input, kernel, stride, dil, pad) = t;
            int dims = input.Length;
            var g = new ConvGeometry(stride, pad[..dims], pad[dims..], dil);
            var m = ExplorerModel.Build(Derivation.Derive(g, [1, 1, .. input], [1, 1, .. kernel]), seed: 1);
            Assert.True(m.Verified);
            var formulas = m.Formulas.Where(f => f.Cell.StartsWith("dI(", StringComparison.Ordinal)).ToDictionary(f => f.Cell);
            Assert.Equal(formulas.Keys.Order(), m.Compact.Windows.Select(w => w.Cell).Order());
            foreach (var w in m.Compact.Windows)
            {
                var fromWindow = w.Taps.Where(x => x.Under is not null).Select(x => (x.Under!, x.Tap)).Order().ToList();
                var fromFormula = formulas[w.Cell].Products.Select(p => (p.A, p.B)).Order().ToList();
                Assert.Equal(fromFormula, fromWindow);
            }
            Assert.Equal(formulas.Keys.Order(), m.Compact.Phases.SelectMany(p => p.Cells).Order());
            foreach (var phase in m.Compact.Phases)
            {
                foreach (var cell in phase.Cells)
                {
                    Assert.All(formulas[cell].Products, p => Assert.Contains(p.B, phase.Taps));
                    Assert.All(formulas[cell].Dropped.Where(d => d.Text.Contains("not a whole number", StringComparison.Ordinal)),
                        d => Assert.DoesNotContain(d.B, phase.Taps));
                }
            }
        }, iter: 60);
    }

    private static IEnumerable<KeyValuePair<string, string>> Query(string q) =>
        q.Split('&').Select(p => p.Split('=', 2)).Select(p => new KeyValuePair<string, string>(p[0], p[1]));
}
