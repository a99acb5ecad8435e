using System.CommandLine;
using System.Globalization;
using ConvGrad.Verification;

namespace ConvGrad.Cli;

/// <summary><c>convgrad verify DIR</c>: runs every golden case file in DIR through the engine(s).</summary>
internal sealed class VerifyCommand : CliCommand
{
    private readonly Argument<string?> _dir = new("DIR") { Description = "a folder of golden case files, e.g. tests/data/golden", Arity = ArgumentArity.ZeroOrOne };
    private readonly Option<string?> _engine = CliOptions.OptionalText("engine",
        $"one of: {string.Join(", ", EngineNames)}, or all (a case passes only when every engine passes it); default {EngineName(ConvOptions.Default.Engine)}",
        [.. EngineNames, "all"]);
    private readonly Option<string> _isa = IsaOption.Declare();
    private readonly Option<string> _device = DeviceOption.Declare();
    private readonly Option<int> _threads = CliOptions.Int("threads", "worker threads (0: one per processor)", 0, min: 0, max: 1024);
    private readonly Option<bool> _verbose = CliOptions.Flag("verbose", "also print passing cases");

    /// <summary>Declares <c>verify</c> and its options.</summary>
    public VerifyCommand() => Declaration = new Command("verify", """
        check the engine against golden cases (forward, dx, dw, db)

        Runs every *.json case in DIR (the golden format: tests/data/golden/README.md) through
        forward, backward-data, backward-weight and bias gradient, compares each result with
        max|a-e| <= 1e-4 * (1 + max|e|), prints every failing case with its worst error per
        tensor and ends with 'N passed, M failed'. Exit code 0 only when nothing failed.
        """)
    {
        Arguments = { _dir },
        Options = { _engine, _isa, _device, _threads, _verbose },
    };

    public override Command Declaration { get; }

    private static IEnumerable<string> EngineNames => Enum.GetValues<ConvEngine>().Select(EngineName);

    private static string EngineName(ConvEngine e) => e.ToString().ToLowerInvariant();

    public override int Run(ParseResult args, TextWriter stdout, TextWriter stderr)
    {
        string dir = args.GetValue(_dir) ?? throw new UsageException("missing DIR (a folder of golden case files, e.g. tests/data/golden)");
        string? engineOpt = args.GetValue(_engine);
        string engineArg = engineOpt ?? EngineName(ConvOptions.Default.Engine);
        var device = DeviceOption.Parse(args, _device);
        int threads = args.GetValue(_threads);
        ConvIsa isa = IsaOption.Parse(args, _isa);
        bool verbose = args.GetValue(_verbose);
        if (device.IsGpu && engineOpt is not null)
        {
            throw new UsageException($"--engine chooses a CPU engine; it cannot be combined with --device {device.Name}");
        }

        ConvEngine[] engines = engineArg == "all"
            ? Enum.GetValues<ConvEngine>()
            : [Enum.GetValues<ConvEngine>().FirstOrDefault(e => EngineName(e) == engineArg, (ConvEngine)(-1))];
        if (!Enum.IsDefined(engines[0]))
        {
            throw new UsageException($"--engine must be one of {string.Join(", ", EngineNames)} or all; got '{engineArg}'");
        }
        if (!Directory.Exists(dir))
        {
            throw new UsageException($"no such folder: {dir}");
        }
        var files = Directory.GetFiles(dir, "*.json").Order(StringComparer.Ordinal).ToArray();
        if (files.Length == 0)
        {
            throw new UsageException($"no *.json case files in {dir}");
        }

        using var gpu = device.Open();
        if (gpu is not null)
        {
            engineArg = device.Name;
            stdout.WriteLine($"device {gpu}");
        }
        else if (engines.Contains(ConvEngine.Fast))
        {
            stdout.WriteLine($"isa {IsaOption.Name(new ConvOptions { MaxIsa = isa }.EffectiveIsa)}");
        }
        int passed = 0, failed = 0;
        double worst = 0;
        foreach (var file in files)
        {
            GoldenCase c;
            try
            {
                c = GoldenCase.Load(file);
            }
            catch (FormatException e)
            {
                failed++;
                stdout.WriteLine($"FAIL {e.Message}");
                continue;
            }
            var results = gpu is not null
                ? [GoldenCheck.Run(c, gpu.Options, device.Name)]
                : engines.Select(e => GoldenCheck.Run(c, new ConvOptions { Engine = e, Threads = threads, MaxIsa = isa }, EngineName(e))).ToList();
            bool ok = results.All(r => r.Passed);
            if (ok)
            {
                passed++;
            }
            else
            {
                failed++;
            }
            foreach (var r in results)
            {
                worst = Math.Max(worst, r.Errors.Select(e => e.Relative).DefaultIfEmpty(0).Max());
                if (!r.Passed || verbose)
                {
                    stdout.WriteLine(Describe(r));
                }
            }
        }
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"engine {engineArg}: worst max|a-e|/(1+max|e|) = {worst:0.0e+0} (tolerance {TensorError.RelativeTolerance:0e+0})"));
        stdout.WriteLine($"{passed} passed, {failed} failed");
        return failed == 0 ? ExitCodes.Success : ExitCodes.CheckFailed;
    }

    private static string Describe(CaseResult r)
    {
        string errors = string.Join(", ", r.Errors.Select(e => string.Create(CultureInfo.InvariantCulture,
            $"{e.Tensor} {e.MaxAbsError:0.00e+0} (rel {e.Relative:0.0e+0}{(e.Passed ? "" : " > tol")})")));
        string head = $"{(r.Passed ? "ok  " : "FAIL")} {r.Id} [{r.Engine}]";
        return r.Failure is null ? $"{head}: {errors}" : $"{head}: {r.Failure}{(errors.Length > 0 ? "; " + errors : "")}";
    }
}
