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

          --update-docs FILE  regenerate every block of FILE between '<!-- convgrad explain ARGS -->' and
                              '{ExplainDocs.EndMarker}' (docs/derivation.md) as 'explain ARGS --format markdown'
          --check-docs FILE   exit 1 when such a block is stale (what the tests check)
        """;

    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "zero-based" };

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
        int[] input = args.IntList("input") ?? throw new UsageException("missing --input (the spatial input size, e.g. --input 4x4)");
        int[] kernel = args.IntList("kernel") ?? throw new UsageException("missing --kernel (the spatial kernel size, e.g. --kernel 2x2)");
        int dims = input.Length;
        if (dims is < 1 or > 3)
        {
            throw new UsageException($"--input must have 1, 2 or 3 sizes; got {dims}");
        }
        if (kernel.Length != dims)
        {
            throw new UsageException($"--kernel has {kernel.Length} sizes but --input has {dims}");
        }
        int[] stride = PerAxis(args, "stride", dims, 1);
        int[] dilation = PerAxis(args, "dilation", dims, 1);
        var (before, after) = Padding(args, dims);
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
        var geometry = new ConvGeometry(stride, before, after, dilation, groups);
        int[] inputShape = [n, c, .. input];
        int[] weightShape = [k, c / groups, .. kernel];
        var problem = ConvProblem.ForConv(geometry, inputShape, weightShape, "input", "kernel");
        Int128 terms = Derivation.CountTerms(problem);
        if (terms > MaxTerms)
        {
            throw new UsageException($"too large to print: this geometry has {terms} formula terms, the limit is {MaxTerms}; use smaller sizes or fewer channels");
        }

        var derivation = Derivation.Derive(geometry, inputShape, weightShape);
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

    private static int[] PerAxis(Args args, string name, int dims, int fallback)
    {
        int[] v = args.IntList(name) ?? [fallback];
        if (v.Length == 1)
        {
            v = Enumerable.Repeat(v[0], dims).ToArray();
        }
        if (v.Length != dims)
        {
            throw new UsageException($"--{name} needs one value or one per axis ({dims}); got {v.Length}");
        }
        return v;
    }

    private static (int[] Before, int[] After) Padding(Args args, int dims)
    {
        int[] v = args.IntList("padding") ?? [0];
        if (v.Length == 1)
        {
            v = Enumerable.Repeat(v[0], dims).ToArray();
        }
        if (v.Length == dims)
        {
            return (v, v);
        }
        if (v.Length == 2 * dims)
        {
            return (v[..dims], v[dims..]);
        }
        throw new UsageException(
            $"--padding needs one value, one per axis ({dims}) or befores then afters ({2 * dims}{(dims == 2 ? ": top,left,bottom,right" : "")}); got {v.Length}");
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
