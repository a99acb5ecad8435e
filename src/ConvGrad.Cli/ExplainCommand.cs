using System.CommandLine;
using System.Net;
using System.Runtime.InteropServices;
using ConvGrad.Cli.Explorer;
using ConvGrad.Explain;

namespace ConvGrad.Cli;

/// <summary>
/// <c>convgrad explain</c>: derives the explicit forward, dK and dI formulas of a small convolution from index
/// arithmetic, prints them with the compact rules, and verifies every printed formula against the engine.
/// </summary>
internal sealed class ExplainCommand : CliCommand
{
    private readonly ExplainGeometryOptions _geometry = new();
    private readonly Option<string> _format = CliOptions.Text("format", "text, markdown or latex", "text", ["text", "markdown", "latex"], "FORMAT");
    private readonly Option<bool> _zeroBased = CliOptions.Flag("zero-based", "0-based indices instead of the classic 1-based ones");
    private readonly Option<int> _seed = CliOptions.Int("seed", "seed of the random values used by the verification (0 or more)", 1, min: 0);
    private readonly Option<string?> _sections = CliOptions.OptionalText("sections",
        "which sections to print, comma-separated from forward, dk, di, engine, verify (default all five)", ["forward", "dk", "di", "engine", "verify"], "LIST");
    private readonly Option<string?> _values = CliOptions.OptionalText("values",
        "which values the verification uses, comma-separated from random, integer (default both)", ["random", "integer"], "LIST");
    private readonly Option<string?> _html = CliOptions.OptionalText("html",
        "write the derivation explorer's page for this geometry as one self-contained file (works offline)", helpName: "FILE");
    private readonly Option<bool> _serve = CliOptions.Flag("serve",
        "serve the derivation explorer at http://127.0.0.1:PORT/; the geometry comes from the URL query, named like these options: " +
        "/?input=5x5&kernel=3x3&stride=2&padding=1&dilation=1");
    private readonly Option<int> _port = CliOptions.Int("port", "the port --serve listens on (0 picks a free one)", ExplorerServer.DefaultPort, min: 0, max: 65535);
    private readonly Option<string> _host = CliOptions.Text("host", "the address --serve listens on (loopback only by default)", "127.0.0.1", helpName: "ADDRESS");
    private readonly Option<string?> _updateDocs = CliOptions.OptionalText("update-docs",
        $"regenerate every block of FILE between '<!-- convgrad explain ARGS -->' and '{ExplainDocs.EndMarker}' (docs/derivation.md) as 'explain ARGS --format markdown'",
        helpName: "FILE");
    private readonly Option<string?> _checkDocs = CliOptions.OptionalText("check-docs", "exit 1 when such a block is stale (what the tests check)", helpName: "FILE");

    /// <summary>Declares <c>explain</c> and its options.</summary>
    public ExplainCommand()
    {
        Declaration = new Command("explain", $"""
            derive and print the gradient formulas for a small geometry, verified against the engine

            Prints, for O = I ⋆ K with this geometry: (1) every output element as its explicit sum of I·K terms,
            (2) every dK element as its sum of I·dO terms and the compact rule with the stride-dilated dO drawn,
            (3) every dI element as its sum of dO·K terms with the out-of-range terms and their constraint, the
            input positions no output reads, and the compact rule (transposed convolution, rotated kernel,
            output_padding), (4) how the engine computes each pass, (5) the verification: every printed sum is
            evaluated on random values and on small integers and compared with the engine's forward, dX and dW.
            Exit code 0 when they agree, 1 when they do not, 2 for bad arguments.
            At most {ExplainLimits.MaxTerms} formula terms are printed, with at most {ExplainLimits.MaxChannels} input and output channels,
            {ExplainLimits.MaxBatch} batch items and {ExplainLimits.MaxGroups} groups (the explorer's limits too); larger geometries are
            refused with what would fit instead.

            The derivation explorer (--html FILE, --serve) draws the same for a 1-D or 2-D geometry (input at most
            {ExplainLimits.MaxDrawnInput} per axis, kernel {ExplainLimits.MaxDrawnKernel}, stride, padding and dilation {ExplainLimits.MaxDrawnStep}) as an interactive
            page: grids of I, K, O, dO, dK and dI per batch item and channel; hovering or focusing a cell of O, dK or dI
            marks the cells of its products and shows its formula, summed over channels; how the engine computes each
            pass (its plan, dI by stride phases, dK's reduction order, the transposed convolution); the compact rules;
            values with the engine's verification; every formula as text; 1-based or 0-based indices.

            Forms:
              convgrad explain --input SIZES --kernel SIZES [geometry and text options]
              convgrad explain --input SIZES --kernel SIZES [geometry options] [--seed N] --html FILE
              convgrad explain --serve [--port N] [--host ADDRESS]
              convgrad explain --update-docs FILE | --check-docs FILE
            """);
        foreach (var option in (IEnumerable<Option>)[.. _geometry.All, _format, _zeroBased, _seed,
                     _sections, _values, _html, _serve, _port, _host, _updateDocs, _checkDocs])
        {
            Declaration.Options.Add(option);
        }
    }

    public override Command Declaration { get; }

    public override int Run(ParseResult args, TextWriter stdout, TextWriter stderr)
    {
        if (args.GetValue(_updateDocs) is { } update)
        {
            OnlyThese(args, _updateDocs);
            stdout.WriteLine($"{update}: regenerated {ExplainDocs.Update(update)} explain block(s)");
            return ExitCodes.Success;
        }
        if (args.GetValue(_checkDocs) is { } check)
        {
            OnlyThese(args, _checkDocs);
            string? stale = ExplainDocs.FirstStale(check, out int blocks);
            if (stale is not null)
            {
                stderr.WriteLine($"convgrad explain: {check}: the block 'explain {stale}' is stale; run 'convgrad explain --update-docs {check}'");
                return ExitCodes.CheckFailed;
            }
            stdout.WriteLine($"{check}: all {blocks} explain block(s) are current");
            return ExitCodes.Success;
        }
        if (args.GetValue(_serve))
        {
            return Serve(args, stdout);
        }
        if (args.GetValue(_html) is { } html)
        {
            return WriteHtml(args, html, stdout, stderr);
        }
        OnlyThese(args, [.. _geometry.All, _format, _zeroBased, _seed, _sections, _values]);
        var shape = _geometry.Read(args);
        string format = args.GetValue(_format)!;
        bool zeroBased = args.GetValue(_zeroBased);
        int seed = args.GetValue(_seed);
        var sections = Sections(args.GetValue(_sections));
        var values = Values(args.GetValue(_values));

        IDocumentRenderer renderer = format switch
        {
            "text" => new TextRenderer(),
            "markdown" => new MarkdownRenderer(),
            "latex" => new LatexRenderer(),
            _ => throw new UsageException($"--format must be text, markdown or latex; got '{format}'"),
        };
        shape.Validate(ExplainScope.Text, ExplainFields.CommandLine);
        var derivation = Derivation.Derive(shape.Geometry(), shape.InputShape, shape.WeightShape);
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

    private int Serve(ParseResult args, TextWriter stdout)
    {
        int port = args.GetValue(_port);
        string host = args.GetValue(_host)!;
        if (_geometry.All.Any(args.Given))
        {
            throw new UsageException("--serve takes the geometry from the page's URL (/?input=4x4&kernel=2x2&stride=2); use --html FILE for one geometry");
        }
        OnlyThese(args, _serve, _port, _host);
        if (!IPAddress.TryParse(host, out var address))
        {
            throw new UsageException($"--host must be an IP address such as 127.0.0.1; got '{host}'");
        }
        using var stopRequested = new ManualResetEventSlim();
        void OnSignal(PosixSignalContext c)
        {
            c.Cancel = true;
            stopRequested.Set();
        }
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        var (app, url) = ExplorerServer.StartAsync(address, port).GetAwaiter().GetResult();
        stdout.WriteLine($"serving the derivation explorer at {url} (Ctrl+C or SIGTERM stops)");
        stdout.Flush();
        stopRequested.Wait();
        // Requests in flight get a moment; the server is not disposed (that would wait for every derivation still
        // running), the process simply ends after this.
        ExplorerServer.Stop(app);
        return ExitCodes.Success;
    }

    private int WriteHtml(ParseResult args, string path, TextWriter stdout, TextWriter stderr)
    {
        OnlyThese(args, [.. _geometry.All, _seed, _zeroBased, _html]);
        var request = ExplorerRequest.FromArgs(args, _geometry, _seed, args.GetValue(_zeroBased));
        var model = request.Derive();
        File.WriteAllText(path, ExplorerPage.Html(ExplorerApi.SerializeBothBases(request, model)));
        stdout.WriteLine($"{path}: the derivation explorer for {model.Title["convgrad explain: ".Length..]}");
        if (!model.Verified)
        {
            stderr.WriteLine($"convgrad explain: the formulas and the engine disagree; see the verification in {path}");
            return ExitCodes.CheckFailed;
        }
        return ExitCodes.Success;
    }

    /// <summary>Refuses every option given besides <paramref name="allowed"/>: each form of explain reads only its own.</summary>
    private void OnlyThese(ParseResult args, params Option[] allowed)
    {
        foreach (var option in Declaration.Options)
        {
            if (!allowed.Contains(option) && args.Given(option))
            {
                throw new UsageException($"unknown option {option.Name}");
            }
        }
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
