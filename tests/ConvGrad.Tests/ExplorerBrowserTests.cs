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
        var dropped = await page.Locator("#dropped li").EvaluateAllAsync<string[]>("els => els.map(e => e.textContent)");
        Assert.Equal(DroppedAfter(cli, formula), dropped);
        Assert.Equal(3, dropped.Length);
        // Collapsed by default: their count and one reason, the lines on demand.
        Assert.Equal("3 dropped terms: the dO index is not a whole number (stride 2 skips it)", await page.InnerTextAsync("#dropped-summary"));
        Assert.False(await page.IsVisibleAsync("#dropped li"));
        Assert.False(await page.Locator("#formula-lists details").First.IsVisibleAsync() && await page.Locator("#formula-lists details li").First.IsVisibleAsync());
        await Screenshot(page, "explorer-seed-dI11.png");
        await page.ClickAsync("#dropped-summary");
        Assert.True(await page.IsVisibleAsync("#dropped li"));
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
        Assert.Equal(DroppedAfter(cli, "dK(1,2) = "), await page.Locator("#dropped li").EvaluateAllAsync<string[]>("els => els.map(e => e.textContent)"));

        await page.HoverAsync(Cell("dI(1,1)"));
        Assert.Equal(Unwrapped(cli, "dI(1,1) = "), await page.InnerTextAsync("#formula"));
        await Screenshot(page, "explorer-padded-stride2.png");
    }

    [SkippableFact]
    public async Task BadGeometry_ShowsThePagesWords_AndMarksTheField()
    {
        var page = await Open("");
        await page.FillAsync("#f-input", "3x3");
        await page.FillAsync("#f-kernel", "5x5");
        await page.FillAsync("#f-stride", "1");
        await Submit(page, "kernel=5x5");
        await page.WaitForSelectorAsync("body[data-ready='true']");

        var (status, body) = ExplorerApi.Answer([new("input", "3x3"), new("kernel", "5x5"), new("stride", "1")]);
        Assert.Equal(400, status);
        string message = System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("error").GetString()!;
        Assert.StartsWith("kernel 5x5 does not fit", message, StringComparison.Ordinal);
        Assert.True(await page.IsVisibleAsync("#error"));
        Assert.Equal(message, await page.InnerTextAsync("#error"));
        Assert.DoesNotContain("--", message, StringComparison.Ordinal);
        Assert.DoesNotContain("Parameter", message, StringComparison.Ordinal);
        Assert.Equal("true", await page.GetAttributeAsync("#f-kernel", "aria-invalid"));
        Assert.False(await page.IsVisibleAsync("#content"));
        // The form keeps what was typed, so it can be corrected.
        Assert.Equal("5x5", await page.InputValueAsync("#f-kernel"));
        await Screenshot(page, "explorer-bad-geometry.png");
    }

    /// <summary>The issue's case: a geometry too large for both the page and the CLI says so and offers what the page can show, as links that load.</summary>
    [SkippableFact]
    public async Task TooLarge_SaysWhatThePageCanShowInstead()
    {
        var page = await Open("?input=64x64&kernel=7x7&stride=2", expectError: true);
        var (_, body) = ExplorerApi.Answer([new("input", "64x64"), new("kernel", "7x7"), new("stride", "2")]);
        var instead = System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("instead").EnumerateArray().Select(a => a.GetProperty("change").GetString()!).ToList();
        Assert.NotEmpty(instead);
        Assert.Equal(instead, await page.Locator("#instead a").AllInnerTextsAsync());
        string message = await page.InnerTextAsync("#error");
        Assert.StartsWith("input 64x64 is larger than the page draws", message, StringComparison.Ordinal);
        Assert.Contains("more than the 10,000 that convgrad explain prints", message, StringComparison.Ordinal);
        var (code, _, _) = Cli.Run("explain", "--input", "64x64", "--kernel", "7x7", "--stride", "2");
        Assert.Equal(2, code);
        await page.Locator("#instead a").First.ClickAsync();
        await page.WaitForURLAsync(new Regex("input=12x12"));
        await Ready(page);
        Assert.Equal("12x12", await page.InputValueAsync("#f-input"));
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
        await Screenshot(page, "explorer-compact-values.png");
        await page.Locator("#compact-view").ScreenshotAsync(new LocatorScreenshotOptions { Path = ScreenshotPath("explorer-compact-rules.png") });
        CopyToDocs("explorer-compact-rules.png");
    }

    /// <summary>
    /// The seed's engine panel: four stride phases, each highlighting exactly its dI cells (rows and columns of one
    /// parity), the one K tap that reaches them and the dO cells it reads; the multiply-add counts with zeros inserted
    /// and by phases; each phase checked against the engine; the transposed-convolution check.
    /// </summary>
    [SkippableFact]
    public async Task SeedCase_EnginePanel_PhasesHighlightTheirCells_CountsAndTransposedCheck()
    {
        var page = await Open("?input=4x4&kernel=2x2&stride=2");
        Assert.Equal(4, await page.Locator("#phases li").CountAsync());
        for (int py = 0; py < 2; py++)
        for (int px = 0; px < 2; px++)
        {
            int phase = 2 * py + px;
            await page.HoverAsync($"#phases li[data-phase='{phase}']");
            // 1-based: rows and columns whose 0-based index has this parity; the tap K(py+1, px+1); every dO cell.
            var cells = (from y in Enumerable.Range(0, 4) from x in Enumerable.Range(0, 4) where y % 2 == py && x % 2 == px select $"dI({y + 1},{x + 1})")
                .Order(StringComparer.Ordinal).ToList();
            Assert.Equal(cells, await Marked(page, "phase-cell"));
            Assert.Equal([$"K({py + 1},{px + 1})"], await Marked(page, "phase-tap"));
            Assert.Equal(["dO(1,1)", "dO(1,2)", "dO(2,1)", "dO(2,2)"], await Marked(page, "phase-read"));
            string text = await page.InnerTextAsync($"#phases li[data-phase='{phase}']");
            Assert.Contains("it equals the engine’s dI at its 4 cells", text, StringComparison.Ordinal);
        }
        await page.HoverAsync("#phases li[data-phase='1']");
        await Region(page, "#grids", "#phases", "explorer-engine-phases.png");
        Assert.Equal("with zeros inserted (dO″ ⋆ rot180(K)): 16 dI cells × 4 taps of rot180(K) = 64 multiply-adds", await page.InnerTextAsync("#macs-zeros"));
        Assert.Equal("by phases: 4×1 + 4×1 + 4×1 + 4×1 = 16 multiply-adds (4× fewer)", await page.InnerTextAsync("#macs-phases"));
        // dK's reduction: the terms of dK(1,1) in the engine's order, reproduced bit for bit.
        Assert.Equal(["I(1,1)·dO(1,1)", "I(1,3)·dO(1,2)", "I(3,1)·dO(2,1)", "I(3,3)·dO(2,2)"], await page.Locator("#reduction-terms li").AllInnerTextsAsync());
        Assert.Contains("gives the engine's dK bit for bit in all 4 cells", await page.InnerTextAsync("#reduction-verdict"), StringComparison.Ordinal);
        await page.HoverAsync(Cell("dK(2,2)"));
        Assert.Equal("dK(2,2)", await page.InputValueAsync("#reduction-cell"));
        // The transposed convolution, shown on demand and checked.
        Assert.False(await page.IsVisibleAsync("#transposed-view"));
        await page.CheckAsync("#transposed-toggle");
        Assert.StartsWith("equal: ConvTranspose.Forward(dO, K)", await page.InnerTextAsync("#transposed-verdict"), StringComparison.Ordinal);
        Assert.Contains("outputPadding: [0, 0]", await page.InnerTextAsync("#transposed-call"), StringComparison.Ordinal);
        // Its values are the dI the page shows with values on.
        await page.CheckAsync("#values-toggle");
        foreach (var cell in new[] { "dI(1,1)", "dI(2,3)", "dI(4,4)" })
        {
            Assert.Equal(await page.InnerTextAsync($"#grids .cell[data-cell='{cell}'] .v"), await page.InnerTextAsync($"#transposed-grids .cell[data-cell='{cell}'] .tv"));
        }
        await page.Locator("#transposed-view").ScreenshotAsync(new LocatorScreenshotOptions { Path = ScreenshotPath("explorer-transposed.png") });
        CopyToDocs("explorer-transposed.png");
    }

    /// <summary>Two input and two output channels: every O cell is a sum over both input channels, shown as channel sums, with cells of both channels marked.</summary>
    [SkippableFact]
    public async Task TwoChannelsTwoOutputs_ShowChannelSums()
    {
        var page = await Open("?input=4x4&kernel=2x2&stride=2&channels=2&out-channels=2");
        Assert.Equal(2, await page.Locator("#grids table[data-tensor='I']").CountAsync());
        Assert.Equal(4, await page.Locator("#grids table[data-tensor='K']").CountAsync());
        await page.HoverAsync(Cell("O(2,1,2)"));
        var sums = await page.Locator("#sums li").AllInnerTextsAsync();
        Assert.Equal(2, sums.Count);
        Assert.Equal("c = 1: I(1,1,3)·K(2,1,1,1) + I(1,1,4)·K(2,1,1,2) + I(1,2,3)·K(2,1,2,1) + I(1,2,4)·K(2,1,2,2)", sums[0]);
        Assert.StartsWith("c = 2: I(2,1,3)·K(2,2,1,1)", sums[1], StringComparison.Ordinal);
        var marked = await Highlighted(page);
        Assert.Contains("I(1,1,3)", marked);
        Assert.Contains("I(2,2,4)", marked);
        Assert.Contains("K(2,2,2,2)", marked);
        Assert.DoesNotContain(marked, c => c.StartsWith("K(1,", StringComparison.Ordinal));
        var cli = CliLines("--input", "4x4", "--kernel", "2x2", "--stride", "2", "--channels", "2", "--out-channels", "2");
        Assert.Equal(Unwrapped(cli, "O(2,1,2) = "), await page.InnerTextAsync("#formula"));
        await page.HoverAsync(Cell("dI(2,1,1)"));
        Assert.Equal(["k = 1: dO(1,1,1)·K(1,2,1,1)", "k = 2: dO(2,1,1)·K(2,2,1,1)"], await page.Locator("#sums li").AllInnerTextsAsync());
        await page.HoverAsync(Cell("O(2,1,2)"));
        await Screenshot(page, "explorer-channels.png");
    }

    /// <summary>The index base toggle: 0-based (PyTorch's) relabels every formula, grid, hover and phase.</summary>
    [SkippableFact]
    public async Task ZeroBased_SeedFirstCell_IsDI00()
    {
        var page = await Open("?input=4x4&kernel=2x2&stride=2");
        await page.HoverAsync(Cell("dI(1,1)"));
        Assert.Equal("dI(1,1) = dO(1,1)·K(1,1)", await page.InnerTextAsync("#formula"));
        await page.CheckAsync("#f-base-0");
        await page.WaitForFunctionAsync("() => document.body.dataset.ready === 'true' && document.querySelector(\"#grids .cell[data-cell='dI(0,0)']\") !== null");
        Assert.Contains("base=0", page.Url, StringComparison.Ordinal);
        await page.HoverAsync(Cell("dI(0,0)"));
        Assert.Equal("dI(0,0) = dO(0,0)·K(0,0)", await page.InnerTextAsync("#formula"));
        Assert.Equal(["K(0,0)", "dO(0,0)"], await Highlighted(page));
        Assert.Equal(0, await page.Locator("#grids .cell[data-cell='I(4,4)']").CountAsync());
        Assert.Equal(1, await page.Locator("#grids .cell[data-cell='I(3,3)']").CountAsync());
        Assert.StartsWith("dI(2t,2u) = dO(t,u)·K(0,0)", await page.InnerTextAsync("#phases li[data-phase='0'] .phase-formula"), StringComparison.Ordinal);
        Assert.Contains("dI(0,0) = dO(0,0)·K(0,0)", await page.TextContentAsync("#explain-text"), StringComparison.Ordinal);
        await Screenshot(page, "explorer-zero-based.png");
        // And back.
        await page.CheckAsync("#f-base-1");
        await page.WaitForFunctionAsync("() => document.body.dataset.ready === 'true' && document.querySelector(\"#grids .cell[data-cell='dI(4,4)']\") !== null");
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
            // Both index bases travel in the file.
            await page.CheckAsync("#f-base-0");
            await page.WaitForSelectorAsync("#grids .cell[data-cell='dI(0,0)']");
            await page.HoverAsync(Cell("dI(0,0)"));
            Assert.StartsWith("dI(0,0) = ", await page.InnerTextAsync("#formula"), StringComparison.Ordinal);
            Assert.All(requests, u => Assert.StartsWith("file:", u, StringComparison.Ordinal));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>
    /// The "how the engine computes it" panel shows, for the seed's case, the planner's plans exactly as
    /// <c>convgrad bench</c> prints them for the same geometry: per pass and layout the ISA tier, the kernel's name and the
    /// workspace (bench with the page's default threads), each with the planner's own description.
    /// </summary>
    [SkippableFact]
    public async Task SeedCase_PlansPanel_ShowsThePlanNamesBenchPrints()
    {
        var page = await Open("?input=4x4&kernel=2x2&stride=2");
        Assert.True(await page.IsVisibleAsync("#plans-box"));
        var shown = await page.Locator("#plans tr[data-pass]").EvaluateAllAsync<string[][]>("trs => trs.map(tr => [...tr.children].map(td => (td.querySelector('details p') ?? td).textContent))");
        string suite = Path.Combine(TestPaths.RepoRoot, "bench", "conv2d-suite.csv");
        var (code, o, e) = Cli.Run("bench", "--suite", suite, "--only", "seed-4x4-k2-s2", "--min-time", "0", "--format", "csv");
        Assert.True(code == 0, e);
        // name,pass,layout,isa,kernel,ms,gflops,peak_pct,workspace_bytes
        var printed = o.ReplaceLineEndings("\n").Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(','))
            .Where(f => f[0] == "seed-4x4-k2-s2")
            .Select(f => new[] { f[1], f[2], f[3], f[4], ConvPlanInfo.FormatBytes(long.Parse(f[8], System.Globalization.CultureInfo.InvariantCulture)) })
            .ToList();
        Assert.NotEmpty(printed);
        Assert.Equal(printed.Count, shown.Length);
        foreach (var row in printed)
        {
            var match = shown.SingleOrDefault(r => r[0] == row[0] && r[1] == row[1]);
            Assert.True(match is not null, $"the page shows no {row[0]} {row[1]} plan");
            Assert.Equal(row, match![..5]);
            Assert.EndsWith($"Kernel: {row[3]}.", match[5], StringComparison.Ordinal);
        }
        // The planner's account is collapsed under each plan, shown on demand.
        Assert.False(await page.IsVisibleAsync("#plans tr[data-pass] details p"));
        await page.ClickAsync("#plans tr[data-pass='dx'][data-layout='nchw'] summary");
        Assert.True(await page.IsVisibleAsync("#plans tr[data-pass='dx'][data-layout='nchw'] details p"));
        await Region(page, "#plans-box", "#plans-box", "explorer-engine-plans.png");
    }

    private async Task<IPage> Open(string query, bool expectError = false)
    {
        Skip.If(fixture.Browser is null, SkipReason);
        var page = await fixture.Browser!.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        page.SetDefaultTimeout((float)ExplorerBrowserFixture.Patience.TotalMilliseconds);
        page.SetDefaultNavigationTimeout((float)ExplorerBrowserFixture.Patience.TotalMilliseconds);
        page.Console += (_, m) => output.WriteLine($"console {m.Type}: {m.Text}");
        page.PageError += (_, e) => output.WriteLine("page error: " + e);
        await page.GotoAsync(fixture.Url + query);
        if (expectError)
        {
            await page.WaitForSelectorAsync("body[data-ready='true']");
            Assert.True(await page.IsVisibleAsync("#error"));
        }
        else
        {
            await Ready(page);
        }
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

    private static Task<List<string>> Highlighted(IPage page) => Marked(page, "hl");

    private static async Task<List<string>> Marked(IPage page, string cls) =>
        [.. (await page.Locator("#grids .cell." + cls).EvaluateAllAsync<string[]>("els => els.map(e => e.dataset.cell)")).Order(StringComparer.Ordinal)];

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

    /// <summary>A screenshot of the page from the top of <paramref name="from"/> to the bottom of <paramref name="to"/> (full width of the main column).</summary>
    private async Task Region(IPage page, string from, string to, string name)
    {
        // Page coordinates (the bounding boxes are the viewport's, which scrolls with a hover).
        var box = await page.EvaluateAsync<double[]>(
            "([a, b]) => { const t = document.querySelector(a).getBoundingClientRect(), u = document.querySelector(b).getBoundingClientRect(), " +
            "c = document.getElementById('main-column').getBoundingClientRect(); return [c.left + scrollX, t.top + scrollY, c.width, u.bottom - t.top]; }",
            new[] { from, to });
        await page.ScreenshotAsync(new PageScreenshotOptions
        {
            Path = ScreenshotPath(name),
            FullPage = true,
            Clip = new Clip { X = (float)box[0], Y = (float)box[1], Width = (float)box[2], Height = (float)box[3] },
        });
        CopyToDocs(name);
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
    private static readonly string[] DocsPictures =
    [
        "explorer-seed-dI11.png", "explorer-padded-stride2.png", "explorer-compact-rules.png", "explorer-engine-phases.png",
        "explorer-transposed.png", "explorer-channels.png", "explorer-zero-based.png", "explorer-engine-plans.png",
    ];

    /// <summary>With CONVGRAD_DOCS_SCREENSHOTS=1 a screenshot the docs show also replaces docs/NAME (how those pictures are made).</summary>
    private static void CopyToDocs(string name)
    {
        if (Environment.GetEnvironmentVariable("CONVGRAD_DOCS_SCREENSHOTS") == "1" && DocsPictures.Contains(name))
        {
            File.Copy(Path.Combine(AppContext.BaseDirectory, "explorer-screenshots", name), Path.Combine(TestPaths.RepoRoot, "docs", name), overwrite: true);
        }
    }
}
