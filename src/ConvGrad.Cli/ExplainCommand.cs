using System.Net;
using Microsoft.Extensions.Hosting;
using ConvGrad.Cli.Explorer;
using ConvGrad.Explain;

namespace ConvGrad.Cli;

/// <summary>
/// <c>convgrad explain</c>: derives the explicit forward, dK and dI formulas of a small convolution from index
/// arithmetic, prints them with the compact rules, and verifies every printed formula against the engine.
/// </summary>
internal sealed class ExplainCommand : ICommand
{
    /// <summary>The most formula terms (kept and dropped, all three passes) that are printed.</summary>
    public const long MaxTerms = 10_000;

    public string Name => "explain";
    public string Summary => "derive and print the gradient formulas for a small geometry, verified against the engine";
    public string Usage => $"""
        usage: convgrad explain --input SIZES --kernel SIZES [--stride S] [--padding P] [--dilation D]
                                [--channels C] [--out-channels K] [--groups G] [--batch N]
                                [--format text|markdown|latex] [--zero-based] [--seed N]
                                [--sections forward,dk,di,engine,verify] [--values random,integer]
               convgrad explain --input SIZES --kernel SIZES [geometry options] --html FILE
               convgrad explain --serve [--port N] [--host ADDRESS]
               convgrad explain --update-docs FILE | --check-docs FILE

        Prints, for O = I ⋆ K with this geometry: (1) every output element as its explicit sum of I·K terms,
        (2) every dK element as its sum of I·dO terms and the compact rule with the stride-dilated dO drawn,
        (3) every dI element as its sum of dO·K terms with the out-of-range terms and their constraint, the
        input positions no output reads, and the compact rule (transposed convolution, rotated kernel,
        output_padding), (4) how the engine computes each pass, (5) the verification: every printed sum is
        evaluated on random values and on small integers and compared with the engine's forward, dX and dW.
        Exit code 0 when they agree, 1 when they do not, 2 for bad arguments.

          --input       spatial input size, 1-3 axes: 8, 4x4 or 3x4x4
          --kernel      spatial kernel size, same number of axes
          --stride      one number or one per axis (default 1)
          --padding     one number, one per axis, or befores then afters (2-D: top,left,bottom,right); default 0
          --dilation    one number or one per axis (default 1)
          --channels    input channels C (default 1); --out-channels K (default 1); --groups G (default 1)
          --batch       batch size N (default 1)
          --format      text (default), markdown or latex
          --zero-based  0-based indices instead of the classic 1-based ones
          --seed        seed of the random values used by the verification (default 1)
          --sections    which sections to print (default all five)
          --values      which values the verification uses (default random,integer)

        At most {MaxTerms} formula terms are printed; larger geometries are refused.

        The derivation explorer draws the same for a 1-D or 2-D geometry (one channel, input at most
        {ExplorerRequest.MaxInput} per axis, kernel {ExplorerRequest.MaxKernel}, stride, padding and dilation {ExplorerRequest.MaxStep}) as an interactive page:
        grids of I, K, O, dO, dK and dI; hovering or focusing a cell of O, dK or dI marks the cells of its products
        and shows its formula; the compact rules; values with the engine's verification; every formula as text.
          --html FILE   write the page for this geometry as one self-contained file (works offline)
          --serve       serve the page at http://127.0.0.1:PORT/; the geometry comes from the URL query, named
                        like these options: /?input=5x5&kernel=3x3&stride=2&padding=1&dilation=1
          --port        the port to serve on (default {ExplorerServer.DefaultPort}; 0 picks a free one)
          --host        the address to listen on (default 127.0.0.1, loopback only)

          --update-docs FILE  regenerate every block of FILE between '<!-- convgrad explain ARGS -->' and
                              '{ExplainDocs.EndMarker}' (docs/derivation.md) as 'explain ARGS --format markdown'
          --check-docs FILE   exit 1 when such a block is stale (what the tests check)
        """;

    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "zero-based", "serve" };

    public int Run(Args args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Option("update-docs") is { } update)
        {
            args.EnsureAllUsed();
            stdout.WriteLine($"{update}: regenerated {ExplainDocs.Update(update)} explain block(s)");
            return ExitCodes.Success;
        }
        if (args.Option("check-docs") is { } check)
        {
            args.EnsureAllUsed();
            string? stale = ExplainDocs.FirstStale(check, out int blocks);
            if (stale is not null)
            {
                stderr.WriteLine($"convgrad explain: {check}: the block 'explain {stale}' is stale; run 'convgrad explain --update-docs {check}'");
                return ExitCodes.CheckFailed;
            }
            stdout.WriteLine($"{check}: all {blocks} explain block(s) are current");
            return ExitCodes.Success;
        }
        if (args.Flag("serve"))
        {
            return Serve(args, stdout);
        }
        if (args.Option("html") is { } html)
        {
            return WriteHtml(args, html, stdout, stderr);
        }
        var shape = ExplainGeometryOptions.Read(args);
        int c = args.Int("channels", 1, min: 1, max: 1024);
        int k = args.Int("out-channels", 1, min: 1, max: 1024);
        int groups = args.Int("groups", 1, min: 1, max: 1024);
        int n = args.Int("batch", 1, min: 1, max: 1024);
        string format = args.Option("format", "text");
        bool zeroBased = args.Flag("zero-based");
        int seed = args.Int("seed", 1);
        var sections = Sections(args.Option("sections"));
        var values = Values(args.Option("values"));
        args.EnsureAllUsed();

        IDocumentRenderer renderer = format switch
        {
            "text" => new TextRenderer(),
            "markdown" => new MarkdownRenderer(),
            "latex" => new LatexRenderer(),
            _ => throw new UsageException($"--format must be text, markdown or latex; got '{format}'"),
        };
        if (c % groups != 0 || k % groups != 0)
        {
            throw new UsageException($"--channels {c} and --out-channels {k} must both be divisible by --groups {groups}");
        }
        var geometry = shape.Geometry(groups);
        int[] inputShape = [n, c, .. shape.Input];
        int[] weightShape = [k, c / groups, .. shape.Kernel];
        var derivation = DeriveSmall(geometry, inputShape, weightShape);
        var results = new List<VerificationResult>();
        if (values.random)
        {
            results.Add(ExplainVerifier.Random(derivation, seed));
        }
        if (values.integer)
        {
            results.Add(ExplainVerifier.Integers(derivation, seed));
        }
        var document = ExplainDocumentBuilder.Build(derivation, zeroBased, sections, results);
        stdout.Write(renderer.Render(document));
        if (!results.All(r => r.Passed))
        {
            stderr.WriteLine("convgrad explain: " + ExplainDocumentBuilder.Verdict(results));
            return ExitCodes.CheckFailed;
        }
        return ExitCodes.Success;
    }

    /// <summary>Validates the geometry and derives its formulas, refusing (before deriving) more than <see cref="MaxTerms"/> terms.</summary>
    /// <exception cref="ArgumentException">Invalid geometry.</exception>
    /// <exception cref="UsageException">Too many terms.</exception>
    internal static Derivation DeriveSmall(ConvGeometry geometry, int[] inputShape, int[] weightShape)
    {
        var problem = ConvProblem.ForConv(geometry, inputShape, weightShape, "input", "kernel");
        Int128 terms = Derivation.CountTerms(problem);
        if (terms > MaxTerms)
        {
            throw new UsageException($"too large to print: this geometry has {terms} formula terms, the limit is {MaxTerms}; use smaller sizes or fewer channels");
        }
        return Derivation.Derive(geometry, inputShape, weightShape);
    }

    private static int Serve(Args args, TextWriter stdout)
    {
        int port = args.Int("port", ExplorerServer.DefaultPort, min: 0, max: 65535);
        string host = args.Option("host", "127.0.0.1");
        if (args.Option("input") is not null || args.Option("kernel") is not null)
        {
            throw new UsageException("--serve takes the geometry from the page's URL (/?input=4x4&kernel=2x2&stride=2); use --html FILE for one geometry");
        }
        args.EnsureAllUsed();
        if (!IPAddress.TryParse(host, out var address))
        {
            throw new UsageException($"--host must be an IP address such as 127.0.0.1; got '{host}'");
        }
        var (app, url) = ExplorerServer.StartAsync(address, port).GetAwaiter().GetResult();
        stdout.WriteLine($"serving the derivation explorer at {url} (Ctrl+C stops)");
        stdout.Flush();
        app.WaitForShutdownAsync().GetAwaiter().GetResult();
        app.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return ExitCodes.Success;
    }

    private static int WriteHtml(Args args, string path, TextWriter stdout, TextWriter stderr)
    {
        var request = ExplorerRequest.FromArgs(args, ensureAllUsed: true);
        var model = request.Derive();
        File.WriteAllText(path, ExplorerPage.Html(ExplorerApi.Serialize(request, model)));
        stdout.WriteLine($"{path}: the derivation explorer for {model.Title["convgrad explain: ".Length..]}");
        if (!model.Verified)
        {
            stderr.WriteLine($"convgrad explain: the formulas and the engine disagree; see the verification in {path}");
            return ExitCodes.CheckFailed;
        }
        return ExitCodes.Success;
    }

    private static ExplainSections Sections(string? s)
    {
        if (s is null)
        {
            return ExplainSections.All;
        }
        var result = ExplainSections.None;
        foreach (var part in s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            result |= part switch
            {
                "forward" => ExplainSections.Forward,
                "dk" => ExplainSections.KernelGradient,
                "di" => ExplainSections.InputGradient,
                "engine" => ExplainSections.Engine,
                "verify" => ExplainSections.Verification,
                _ => throw new UsageException($"--sections takes forward, dk, di, engine and verify; got '{part}'"),
            };
        }
        return result == ExplainSections.None ? throw new UsageException("--sections names no section") : result;
    }

    private static (bool random, bool integer) Values(string? s)
    {
        if (s is null)
        {
            return (true, true);
        }
        bool random = false, integer = false;
        foreach (var part in s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            _ = part switch
            {
                "random" => random = true,
                "integer" => integer = true,
                _ => throw new UsageException($"--values takes random and integer; got '{part}'"),
            };
        }
        return random || integer ? (random, integer) : throw new UsageException("--values names no values");
    }
}
