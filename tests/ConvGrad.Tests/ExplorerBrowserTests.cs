using System.Net;
using System.Text.RegularExpressions;
using ConvGrad.Cli.Explorer;
using Microsoft.AspNetCore.Builder;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace ConvGrad.Tests;

/// <summary>
/// One explorer server (on a free loopback port) and one headless Debian Chromium, driven by Playwright, shared by
/// the browser tests. Playwright's own browser download cannot run here; <c>.ci/run</c> installs <c>chromium</c>.
/// </summary>
public sealed class ExplorerBrowserFixture : IAsyncLifetime
{
    /// <summary>How long a browser step may wait: generous, because the tests share a loaded machine (nothing is timed).</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    /// <summary>Debian's Chromium.</summary>
    public const string ChromiumPath = "/usr/bin/chromium";

    private IPlaywright? _playwright;
    private WebApplication? _app;

    /// <summary>The browser, or null when Chromium is not installed.</summary>
    public IBrowser? Browser { get; private set; }

    /// <summary>The server's base URL, ending in '/'.</summary>
    public string Url { get; private set; } = "";

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            return;
        }
        (_app, Url) = await ExplorerServer.StartAsync(IPAddress.Loopback, 0);
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Timeout = (float)Patience.TotalMilliseconds,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }
        _playwright?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}

/// <summary>
/// The derivation explorer in a real browser (headless Chromium through Playwright): hovering highlights exactly the
/// cells of a formula's products, the formula text is the CLI's, the page's DOM holds every line <c>explain</c>
/// prints, bad geometry shows the CLI's message, and an <c>--html</c> file works offline. Screenshots go to
/// <c>explorer-screenshots/</c> in the test output (and to <c>docs/</c> with CONVGRAD_DOCS_SCREENSHOTS=1).
/// </summary>
public class ExplorerBrowserTests(ExplorerBrowserFixture fixture, ITestOutputHelper output) : IClassFixture<ExplorerBrowserFixture>
{
    private const string SkipReason = "needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run installs it)";

    [SkippableFact]
    public async Task SeedCase_HoverDI11_HighlightsExactlyDO11AndK11_WithTheCliFormula()
    {
        var page = await Open("?input=4x4&kernel=2x2&stride=2");
        await page.HoverAsync(Cell("dI(1,1)"));

        Assert.Equal(["K(1,1)", "dO(1,1)"], await Highlighted(page));
        string formula = await page.InnerTextAsync("#formula");
        Assert.Equal("dI(1,1) = dO(1,1)·K(1,1)", formula);
        var cli = CliLines("--input", "4x4", "--kernel", "2x2", "--stride", "2");
        Assert.Contains(formula, cli);
        // The dropped terms are the CLI's dropped lines under dI(1,1), reasons included.
        var dropped = await page.Locator("#dropped li").AllInnerTextsAsync();
        Assert.Equal(DroppedAfter(cli, formula), dropped);
        Assert.Equal(3, dropped.Count);
        await Screenshot(page, "explorer-seed-dI11.png");
    }

    [SkippableFact]
    public async Task SeedCase_DomContainsEveryLineExplainPrints()
    {
        var page = await Open("?input=4x4&kernel=2x2&stride=2");
        string dom = await page.EvaluateAsync<string>("() => document.body.textContent");
        var lines = CliLines("--input", "4x4", "--kernel", "2x2", "--stride", "2").Where(l => l.Trim().Length > 0).ToList();
        Assert.True(lines.Count > 50, $"explain printed only {lines.Count} lines");
        var missing = lines.Where(l => !dom.Contains(l, StringComparison.Ordinal)).ToList();
        Assert.True(missing.Count == 0, "not in the page's DOM:\n" + string.Join("\n", missing));
        // And every formula is also listed on its own (the page is complete without a mouse).
        var listed = await page.Locator("#formula-lists li[data-formula]").EvaluateAllAsync<string[]>("els => els.map(e => e.firstChild.textContent)");
        Assert.Equal(4 + 4 + 16, listed.Length);
        Assert.All(listed, f => Assert.Contains(f, lines));
    }

    [SkippableFact]
    public async Task PaddedStride2_FromTheForm_DKCellMatchesTheCli()
    {
        var page = await Open("");
        await page.FillAsync("#f-input", "5x5");
        await page.FillAsync("#f-kernel", "3x3");
        await page.FillAsync("#f-stride", "2");
        await page.FillAsync("#f-padding", "1");
        await page.FillAsync("#f-dilation", "1");
        await Submit(page, "input=5x5");
        await Ready(page);

        var cli = CliLines("--input", "5x5", "--kernel", "3x3", "--stride", "2", "--padding", "1");
        // dK(1,2) wraps over two lines in the terminal; the page shows it on one.
        string expected = Unwrapped(cli, "dK(1,2) = ");
        await page.HoverAsync(Cell("dK(1,2)"));
        Assert.Equal(expected, await page.InnerTextAsync("#formula"));
        var products = Regex.Matches(expected, @"(I|dO)\(\d+,\d+\)").Select(m => m.Value).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(12, products.Count);
        Assert.Equal(products, await Highlighted(page));
        Assert.Equal(DroppedAfter(cli, "dK(1,2) = "), await page.Locator("#dropped li").AllInnerTextsAsync());

        await page.HoverAsync(Cell("dI(1,1)"));
        Assert.Equal(Unwrapped(cli, "dI(1,1) = "), await page.InnerTextAsync("#formula"));
        await Screenshot(page, "explorer-padded-stride2.png");
    }

    [SkippableFact]
    public async Task BadGeometry_ShowsTheCliMessageInThePage()
    {
        var page = await Open("");
        await page.FillAsync("#f-input", "3x3");
        await page.FillAsync("#f-kernel", "5x5");
        await page.FillAsync("#f-stride", "1");
        await Submit(page, "kernel=5x5");
        await page.WaitForSelectorAsync("body[data-ready='true']");

        var (code, _, err) = Cli.Run("explain", "--input", "3x3", "--kernel", "5x5");
        Assert.Equal(2, code);
        string message = err.Trim()["convgrad explain: ".Length..];
        Assert.Contains("larger than the padded input", message, StringComparison.Ordinal);
        Assert.True(await page.IsVisibleAsync("#error"));
        Assert.Equal(message, await page.InnerTextAsync("#error"));
        Assert.False(await page.IsVisibleAsync("#content"));
        // The form keeps what was typed, so it can be corrected.
        Assert.Equal("5x5", await page.InputValueAsync("#f-kernel"));
        await Screenshot(page, "explorer-bad-geometry.png");
    }

    [SkippableFact]
    public async Task ValuesCompactRulesAndKeyboard()
    {
        var page = await Open("?input=4x4&kernel=2x2&stride=2");
        // Keyboard only: focus a dI cell and walk right with the arrow key.
        await page.FocusAsync(Cell("dI(1,1)"));
        await page.Keyboard.PressAsync("ArrowRight");
        Assert.Equal("dI(1,2) = dO(1,1)·K(1,2)", await page.InnerTextAsync("#formula"));
        Assert.Equal("dI(1,2)", await page.EvaluateAsync<string>("() => document.activeElement.dataset.cell"));

        await page.CheckAsync("#values-toggle");
        string verdict = await page.InnerTextAsync("#verdict");
        Assert.StartsWith("verified: forward, dK, dI agree with the engine (max error 0 on integer values)", verdict, StringComparison.Ordinal);
        // The shown sum uses the shown numbers: dI(1,2) = dO(1,1)·K(1,2).
        string Value(string cell) => page.InnerTextAsync($"#grids .cell[data-cell='{cell}'] .v").GetAwaiter().GetResult();
        string sum = await page.InnerTextAsync("#formula-values");
        Assert.Equal($"= {Factor(Value("dO(1,1)"))}·{Factor(Value("K(1,2)"))} = {Value("dI(1,2)")}", sum);
        string seed = await page.InnerTextAsync("#seed");
        await page.ClickAsync("#reroll");
        await page.WaitForFunctionAsync($"() => document.body.dataset.ready === 'true' && document.getElementById('seed').textContent !== '{seed}'");
        Assert.StartsWith("verified:", await page.InnerTextAsync("#verdict"), StringComparison.Ordinal);

        await page.CheckAsync("#compact-toggle");
        Assert.True(await page.IsVisibleAsync("#compact-view"));
        Assert.Equal(["dO(1,1)", "0", "dO(1,2)", "0", "0", "0", "dO(2,1)", "0", "dO(2,2)"], await page.Locator("#dilated-grid td").AllInnerTextsAsync());
        await page.HoverAsync(Cell("dI(2,2)"));
        Assert.Equal("dI(2,2)", await page.InputValueAsync("#window-cell"));
        Assert.StartsWith("dI(2,2) = dO(1,1)·K(2,2)   (3 of the 4 taps lie over zeros)", await page.InnerTextAsync("#window-sum"), StringComparison.Ordinal);
        Assert.Equal(4, await page.Locator("#padded-grid td.win").CountAsync());
        Assert.Equal(4, await page.Locator("#phases li").CountAsync());
        Assert.Contains("taps K(2,2)", await page.InnerTextAsync("#phases li.current"), StringComparison.Ordinal);
        Assert.Equal(4, await page.Locator("#phase-grid td.phase-cur").CountAsync());
        Assert.Equal("phase 4", await page.InnerTextAsync("#phase-grid td[data-cell='dI(2,2)']"));
        await Screenshot(page, "explorer-compact-values.png");
        await page.Locator("#compact-view").ScreenshotAsync(new LocatorScreenshotOptions { Path = ScreenshotPath("explorer-compact-rules.png") });
        CopyToDocs("explorer-compact-rules.png");
    }

    [SkippableFact]
    public async Task HtmlFile_WorksOfflineFromFileUrl()
    {
        Skip.If(fixture.Browser is null, SkipReason);
        var dir = Cli.TempDir();
        try
        {
            string file = Path.Combine(dir.FullName, "explorer.html");
            var (code, _, err) = Cli.Run("explain", "--input", "5x5", "--kernel", "3x3", "--stride", "2", "--padding", "1", "--html", file);
            Assert.True(code == 0, err);
            await using var context = await fixture.Browser!.NewContextAsync(new BrowserNewContextOptions { Offline = true });
            context.SetDefaultTimeout((float)ExplorerBrowserFixture.Patience.TotalMilliseconds);
            var page = await context.NewPageAsync();
            var requests = new List<string>();
            page.Request += (_, r) => requests.Add(r.Url);
            await page.GotoAsync(new Uri(file).AbsoluteUri);
            await Ready(page);
            await page.HoverAsync(Cell("dI(1,1)"));
            var cli = CliLines("--input", "5x5", "--kernel", "3x3", "--stride", "2", "--padding", "1");
            Assert.Equal(Unwrapped(cli, "dI(1,1) = "), await page.InnerTextAsync("#formula"));
            Assert.True(await page.IsDisabledAsync("#f-input"));
            Assert.All(requests, u => Assert.StartsWith("file:", u, StringComparison.Ordinal));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private async Task<IPage> Open(string query)
    {
        Skip.If(fixture.Browser is null, SkipReason);
        var page = await fixture.Browser!.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        page.SetDefaultTimeout((float)ExplorerBrowserFixture.Patience.TotalMilliseconds);
        page.SetDefaultNavigationTimeout((float)ExplorerBrowserFixture.Patience.TotalMilliseconds);
        page.Console += (_, m) => output.WriteLine($"console {m.Type}: {m.Text}");
        page.PageError += (_, e) => output.WriteLine("page error: " + e);
        await page.GotoAsync(fixture.Url + query);
        await Ready(page);
        return page;
    }

    /// <summary>Submits the form, waiting (registered before the click) for the page whose URL holds <paramref name="urlPart"/>.</summary>
    private static async Task Submit(IPage page, string urlPart)
    {
        var navigated = page.WaitForURLAsync(new Regex(Regex.Escape(urlPart)));
        await page.ClickAsync("#derive");
        await navigated;
    }

    private static async Task Ready(IPage page)
    {
        await page.WaitForSelectorAsync("body[data-ready='true']");
        Assert.False(await page.IsVisibleAsync("#error"), await page.InnerTextAsync("#error"));
    }

    private static string Cell(string label) => $"#grids .cell[data-cell='{label}']";

    private static async Task<List<string>> Highlighted(IPage page) =>
        [.. (await page.Locator("#grids .cell.hl").EvaluateAllAsync<string[]>("els => els.map(e => e.dataset.cell)")).Order(StringComparer.Ordinal)];

    private static string Factor(string v) => v.StartsWith('−') ? $"({v})" : v;

    private static string[] CliLines(params string[] args)
    {
        var (code, o, e) = Cli.Run(["explain", .. args]);
        Assert.True(code == 0, e);
        return o.ReplaceLineEndings("\n").Split('\n');
    }

    /// <summary>The formula starting with <paramref name="head"/> with its wrapped continuation lines joined, as one line.</summary>
    private static string Unwrapped(string[] lines, string head)
    {
        int i = Array.FindIndex(lines, l => l.StartsWith(head, StringComparison.Ordinal));
        Assert.True(i >= 0, $"explain prints no line starting '{head}'");
        string text = lines[i];
        for (i++; i < lines.Length && lines[i].StartsWith(' ') && !lines[i].TrimStart().StartsWith("dropped ", StringComparison.Ordinal); i++)
        {
            text += " " + lines[i].Trim();
        }
        return text;
    }

    /// <summary>The CLI's dropped lines that follow the formula starting with <paramref name="head"/>, trimmed.</summary>
    private static List<string> DroppedAfter(string[] lines, string head)
    {
        int i = Array.FindIndex(lines, l => l.StartsWith(head, StringComparison.Ordinal));
        var dropped = new List<string>();
        for (i++; i < lines.Length && lines[i].StartsWith(' '); i++)
        {
            if (lines[i].TrimStart().StartsWith("dropped ", StringComparison.Ordinal))
            {
                dropped.Add(lines[i].Trim());
            }
        }
        return dropped;
    }

    private async Task Screenshot(IPage page, string name)
    {
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = ScreenshotPath(name), FullPage = false });
        CopyToDocs(name);
    }

    private string ScreenshotPath(string name)
    {
        string dir = Path.Combine(AppContext.BaseDirectory, "explorer-screenshots");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, name);
        output.WriteLine("screenshot: " + path);
        return path;
    }

    /// <summary>The screenshots that docs/derivation.md and the README show.</summary>
    private static readonly string[] DocsPictures = ["explorer-seed-dI11.png", "explorer-padded-stride2.png", "explorer-compact-rules.png"];

    /// <summary>With CONVGRAD_DOCS_SCREENSHOTS=1 a screenshot the docs show also replaces docs/NAME (how those pictures are made).</summary>
    private static void CopyToDocs(string name)
    {
        if (Environment.GetEnvironmentVariable("CONVGRAD_DOCS_SCREENSHOTS") == "1" && DocsPictures.Contains(name))
        {
            File.Copy(Path.Combine(AppContext.BaseDirectory, "explorer-screenshots", name), Path.Combine(TestPaths.RepoRoot, "docs", name), overwrite: true);
        }
    }
}
