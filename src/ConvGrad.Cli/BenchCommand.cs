using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace ConvGrad.Cli;

/// <summary><c>convgrad bench</c>: times forward, backward-data and backward-weight on every row of the benchmark suite.</summary>
internal sealed class BenchCommand : CliCommand
{
    private static readonly (string Name, BenchPass Pass)[] PassNames =
        [("fwd", BenchPass.Forward), ("dx", BenchPass.BackwardData), ("dw", BenchPass.BackwardWeight)];

    private readonly Option<string?> _suite = CliOptions.OptionalText("suite",
        "the suite CSV (name,N,C,H,W,K,R,S,stride_h,stride_w,pad_h,pad_w,dil_h,dil_w,groups); default bench/conv2d-suite.csv, " +
        "looked up from the current folder and then from the executable's folder upwards", helpName: "FILE");
    private readonly Option<int> _threads = CliOptions.Int("threads", "worker threads (0: one per processor)", 0, min: 0, max: 1024);
    private readonly Option<string> _passes = CliOptions.Text("passes", "which passes, comma-separated from fwd, dx, dw", "fwd,dx,dw",
        PassNames.Select(p => p.Name), "LIST");
    private readonly Option<string> _format = CliOptions.Text("format",
        "table (aligned, with a header naming machine, threads, peak and engine; live in a terminal) or csv " +
        "(name,pass,layout,isa,kernel,ms,gflops,peak_pct,workspace_bytes; the header goes to stderr)", "table", ["table", "csv"], "FORMAT");
    private readonly Option<string?> _baseline = CliOptions.OptionalText("baseline",
        "a CSV to compare with: that of bench/onednn/run.sh --csv FILE (oneDNN), or one written by this command or by " +
        "bench/torch_conv_bench.py (PyTorch) with --format csv; adds the baseline's ms and the speed ratio ConvGrad/baseline " +
        "(> 1: ConvGrad is faster) per row, and its geometric mean per pass and layout (seed rows excluded); rows match by " +
        "name, pass and layout when the baseline has layouts; the oneDNN CSV has none and is compared with the blocked rows " +
        "(its own layouts)", helpName: "FILE");
    private readonly Option<string> _engine = CliOptions.Text("engine", $"one of: {string.Join(", ", EngineNames)}",
        EngineName(ConvOptions.Default.Engine), EngineNames);
    private readonly Option<string> _isa = IsaOption.Declare();
    private readonly Option<string> _layout = CliOptions.Text("layout", "nchw, blocked or all", "all", [.. Layouts, "all"], "LAYOUT");
    private readonly Option<string?> _only = CliOptions.OptionalText("only",
        "time only these rows (a strided row brings its -s1 twin; NAME-s1 alone is allowed)", helpName: "NAME[,NAME...]");
    private readonly Option<double> _minTime = CliOptions.Double("min-time", "seconds of timed calls per measurement (0 = a single timed call)", 0.5, min: 0, max: 3600);
    private readonly Option<string> _device = DeviceOption.Declare(description: DeviceOption.Description +
        "; on a GPU device each timed call includes its host<->device copies (convgrad gpu-bench times device-resident tensors)");

    /// <summary>Declares <c>bench</c> and its options.</summary>
    public BenchCommand() => Declaration = new Command("bench", """
        time the three passes on the benchmark suite (ms, GFLOP/s, % of FMA peak)

        Times each pass on each row of the suite CSV: one warm-up, then repeated calls into preallocated
        outputs for at least --min-time seconds; the median call is reported as ms, GFLOP/s
        (FLOPs = 2·N·K·Ho·Wo·(C/groups)·R·S for every pass) and percent of this machine's fp32 FMA peak for
        the instruction-set tier the engine runs on, which the command measures first and prints with the
        tier's name (12 independent FMA chains per thread in the tier's widest vectors: Vector512 for
        avx512, Vector256 for avx2, Vector128 for portable; on --threads threads; the method of
        bench/onednn/peak.cpp). Every row with a stride > 1 is followed by the same layer at stride 1,
        named NAME-s1, so the cost of striding is visible. Each row names its layout, the tier and the
        kernel that ran. Layouts: nchw times the public NCHW API, every conversion included (as PyTorch is
        timed); blocked times tensors already in the channel-blocked layout (nChw16c on avx512, nChw8c on
        avx2) with a plan made once, conversions outside (as oneDNN is timed); rows the blocked kernels do
        not cover (portable tier, other engines, devices, groups of partial blocks) have no blocked line.
        In a terminal the table is drawn live, with progress through the peak and the rows; piped or with
        --format csv the output is plain lines.
        """)
    {
        Options = { _suite, _threads, _passes, _format, _baseline, _engine, _isa, _layout, _only, _minTime, _device },
    };

    public override Command Declaration { get; }

    private static IEnumerable<string> EngineNames => Enum.GetValues<ConvEngine>().Select(EngineName);

    private static string EngineName(ConvEngine e) => e.ToString().ToLowerInvariant();

    public override int Run(ParseResult args, TextWriter stdout, TextWriter stderr)
    {
        string? suiteArg = args.GetValue(_suite);
        int threadsArg = args.GetValue(_threads);
        var passes = ParsePasses(args.GetValue(_passes)!);
        string format = args.GetValue(_format)!;
        string? baselineArg = args.GetValue(_baseline);
        string engineArg = args.GetValue(_engine)!;
        string? only = args.GetValue(_only);
        double minTime = args.GetValue(_minTime);
        string layoutArg = args.GetValue(_layout)!;
        var device = DeviceOption.Parse(args, _device);
        ConvIsa isa = IsaOption.Parse(args, _isa);

        if (layoutArg is not ("nchw" or "blocked" or "all"))
        {
            throw new UsageException($"--layout must be nchw, blocked or all; got '{layoutArg}'");
        }
        string[] layouts = layoutArg == "all" ? Layouts : [layoutArg];
        if (format is not ("table" or "csv"))
        {
            throw new UsageException($"--format must be table or csv; got '{format}'");
        }
        var engine = Enum.GetValues<ConvEngine>().FirstOrDefault(e => EngineName(e) == engineArg, (ConvEngine)(-1));
        if (!Enum.IsDefined(engine))
        {
            throw new UsageException($"--engine must be one of {string.Join(", ", EngineNames)}; got '{engineArg}'");
        }
        string suitePath = suiteArg ?? BenchSuite.FindDefault();
        if (!File.Exists(suitePath))
        {
            throw new UsageException($"no such suite file: {suitePath}");
        }
        if (baselineArg is not null && !File.Exists(baselineArg))
        {
            throw new UsageException($"no such baseline file: {baselineArg}");
        }
        var rows = SelectRows(BenchSuite.Load(suitePath), only);
        var baseline = baselineArg is null ? null : BenchBaseline.Load(baselineArg);
        using var gpu = device.Open();
        var options = DeviceOption.Options(gpu, new ConvOptions { Engine = engine, Threads = threadsArg, MaxIsa = isa });
        int threads = options.EffectiveThreads;
        if (gpu is not null)
        {
            // Host tensors through the GPU backend: each call includes its host<->device copies.
            engineArg = $"{device.Name} (host tensors, copies included; gpu-bench times device-resident tensors)";
        }

        var tier = options.EffectiveIsa;
        string tierName = tier.ToString().ToLowerInvariant();
        string isaName = gpu is not null ? device.Name : engine == ConvEngine.Fast ? tierName : "scalar";
        // In a terminal (and only for the table) the header, the growing table and the progress are one live display;
        // piped, or as CSV, the output is the plain lines, written as each row is measured.
        var live = format == "table" ? BenchLiveView.ForTerminal(stdout) : null;
        BenchReport report = null!;
        if (live is null)
        {
            MeasureAll();
        }
        else
        {
            live.Run(MeasureAll);
        }
        report.Footer();
        return ExitCodes.Success;

        void MeasureAll()
        {
            double peakSeconds = Math.Clamp(minTime / 5, 0.02, 0.2);
            double peak = live is null ? FmaPeak.Measure(tier, threads, peakSeconds) : live.Peak(() => FmaPeak.Measure(tier, threads, peakSeconds));
            report = new BenchReport(format == "csv" ? stdout : null, format == "table" ? stdout : stderr, rows, passes, baseline, peak, live);
            report.Header(suitePath, engineArg, threads, minTime, $"{tierName} ({FmaPeak.Method(tier)}, 12 independent chains per thread, best of 7)");
            live?.Begin(report.Columns, rows.Count * layouts.Length * passes.Length);
            int block = BlockedBench.BlockSize(options, gpu is not null);
            foreach (var row in rows)
            {
                foreach (var layout in layouts)
                {
                    live?.Timing($"{row.Name} ({layout})");
                    if (layout == BlockedLayout)
                    {
                        foreach (var m in BlockedBench.Measure(row, passes, options, block, minTime, RandomTensor))
                        {
                            report.Row(row, m.Pass, layout, isaName, m.Kernel, m.Ms, m.Workspace);
                        }
                        continue;
                    }
                    foreach (var m in Measure(row, layout, passes, options, minTime))
                    {
                        report.Row(row, m.Pass, layout, isaName, KernelName(row, m.Pass, options, engine, gpu is not null ? device.Name : null), m.Ms, m.Workspace);
                    }
                }
            }
            live?.End();
        }
    }

    /// <summary>
    /// The tensor layouts each row is timed in. <c>nchw</c>: the public NCHW API, every conversion the engine makes
    /// included in the time (as PyTorch is timed). <c>blocked</c>: tensors already in the channel-blocked layout, a plan
    /// made once (as oneDNN is timed; <see cref="BlockedBench"/>).
    /// </summary>
    internal static readonly string[] Layouts = ["nchw", BlockedLayout];

    /// <summary>The name of the channel-blocked layout in the CSV; the oneDNN baseline (which has no layout column) is compared with it.</summary>
    internal const string BlockedLayout = "blocked";

    /// <summary>The kernel that runs <paramref name="pass"/> of the row: the fast engine's choice on its tier, or the engine or device name.</summary>
    private static string KernelName(BenchRow row, BenchPass pass, ConvOptions options, ConvEngine engine, string? device)
    {
        if (device is not null)
        {
            return device;
        }
        if (engine != ConvEngine.Fast)
        {
            return EngineName(engine);
        }
        var p = ConvProblem.ForConv(row.Geometry, row.InputShape, row.WeightShape);
        return ConvPlanInfo.Create(p, ToConvPass(pass), ConvLayout.Nchw, options).Kernel;
    }

    private static ConvPass ToConvPass(BenchPass pass) => pass switch
    {
        BenchPass.Forward => ConvPass.Forward,
        BenchPass.BackwardData => ConvPass.BackwardData,
        _ => ConvPass.BackwardWeight,
    };

    private static BenchPass[] ParsePasses(string s)
    {
        var result = new List<BenchPass>();
        foreach (var part in s.Split(',', StringSplitOptions.TrimEntries))
        {
            var match = PassNames.FirstOrDefault(p => p.Name == part);
            if (match.Name is null)
            {
                throw new UsageException($"--passes must be a comma-separated list of fwd, dx, dw; got '{s}'");
            }
            if (!result.Contains(match.Pass))
            {
                result.Add(match.Pass);
            }
        }
        return [.. result];
    }

    internal static string PassName(BenchPass pass) => PassNames.First(p => p.Pass == pass).Name;

    /// <summary>The pass named fwd, dx or dw; null for anything else.</summary>
    internal static BenchPass? ParsePass(string name) => PassNames.Any(p => p.Name == name) ? PassNames.First(p => p.Name == name).Pass : null;

    /// <summary>The suite rows to time, each strided row followed by its stride-1 twin.</summary>
    private static List<BenchRow> SelectRows(IReadOnlyList<BenchRow> suite, string? only)
    {
        var expanded = new List<BenchRow>();
        foreach (var row in suite)
        {
            expanded.Add(row);
            if (row.Strided)
            {
                expanded.Add(row.StrideOneTwin);
            }
        }
        if (only is null)
        {
            return expanded;
        }
        var wanted = only.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var unknown = wanted.Where(n => expanded.All(r => r.Name != n)).ToList();
        if (unknown.Count > 0 || wanted.Length == 0)
        {
            throw new UsageException($"--only: no row named '{string.Join(", ", unknown)}' in the suite (rows: {string.Join(", ", suite.Select(r => r.Name))})");
        }
        return expanded.Where(r => wanted.Contains(r.Name) || (r.Name.EndsWith("-s1", StringComparison.Ordinal) && wanted.Contains(r.Name[..^3]))).ToList();
    }

    /// <summary>Times each pass of one row in one layout (nchw: through the public API) into preallocated outputs.</summary>
    private static IEnumerable<(BenchPass Pass, double Ms, long Workspace)> Measure(BenchRow row, string layout, BenchPass[] passes, ConvOptions options, double minTime)
    {
        if (layout != "nchw")
        {
            throw new ArgumentException($"unknown layout '{layout}'", nameof(layout));
        }
        var g = row.Geometry;
        var p = ConvProblem.ForConv(g, row.InputShape, row.WeightShape);
        var random = new Random(row.Name.Length * 7919 + row.C);
        var x = RandomTensor(random, row.InputShape);
        var w = RandomTensor(random, row.WeightShape);
        var dy = RandomTensor(random, p.YShape.ToArray());
        var backend = options.EffectiveBackend;
        foreach (var pass in passes)
        {
            Action call;
            long workspace;
            switch (pass)
            {
                case BenchPass.Forward:
                    var y = Tensor<float>.Uninitialized(p.YShape);
                    call = () => Conv.Forward(x, w, null, g, y, options);
                    workspace = backend.WorkspaceBytes(p, ConvPass.Forward, options.EffectiveThreads);
                    break;
                case BenchPass.BackwardData:
                    var dx = Tensor<float>.Uninitialized(row.InputShape);
                    call = () => Conv.BackwardData(dy, w, g, dx, options);
                    workspace = backend.WorkspaceBytes(p, ConvPass.BackwardData, options.EffectiveThreads);
                    break;
                default:
                    var dw = Tensor<float>.Uninitialized(row.WeightShape);
                    call = () => Conv.BackwardWeight(x, dy, g, dw, options);
                    workspace = backend.WorkspaceBytes(p, ConvPass.BackwardWeight, options.EffectiveThreads);
                    break;
            }
            yield return (pass, MedianSeconds(call, minTime) * 1e3, workspace);
        }
    }

    /// <summary>Warm-up (at least one call, about a fifth of <paramref name="minTime"/>), then the median of calls lasting at least <paramref name="minTime"/> in all.</summary>
    internal static double MedianSeconds(Action call, double minTime)
    {
        var total = Stopwatch.StartNew();
        do
        {
            call();
        }
        while (total.Elapsed.TotalSeconds < minTime / 5);
        var samples = new List<double>();
        int minSamples = minTime > 0 ? 3 : 1;
        total.Restart();
        do
        {
            long t0 = Stopwatch.GetTimestamp();
            call();
            samples.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        while (total.Elapsed.TotalSeconds < minTime || samples.Count < minSamples);
        samples.Sort();
        int n = samples.Count;
        return n % 2 == 1 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
    }

    internal static Tensor<float> RandomTensor(Random random, int[] shape)
    {
        var t = Tensor<float>.Uninitialized(shape);
        foreach (ref float v in t.Span)
        {
            v = (float)(random.NextDouble() * 2 - 1);
        }
        return t;
    }

    /// <summary>The columns of <c>--format csv</c> (what <see cref="BenchBaseline"/> reads back).</summary>
    internal const string CsvHeader = "name,pass,layout,isa,kernel,ms,gflops,peak_pct,workspace_bytes";

    /// <summary>Writes the results as an aligned table or as CSV, with the baseline comparison when one is given.</summary>
    private sealed class BenchReport(
        TextWriter? csv, TextWriter info, IReadOnlyList<BenchRow> rows, BenchPass[] passes,
        BenchBaseline? baseline, double peak, BenchLiveView? live)
    {
        private readonly int _nameWidth = Math.Max(4, rows.Select(r => r.Name.Length).DefaultIfEmpty(0).Max());
        private readonly Dictionary<(BenchPass, string), List<double>> _ratios = [];
        private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

        private bool Table => csv is null;

        private string Label => baseline?.Label ?? "";

        /// <summary>The table's columns, right-aligned where numeric (the live table's).</summary>
        public (string Name, bool Right)[] Columns =>
        [
            ("name", false), ("pass", false), ("layout", false), ("isa", false), ("kernel", false),
            ("ms", true), ("GFLOP/s", true), ("% peak", true), ("workspace", true),
            .. baseline is null ? Array.Empty<(string, bool)>() : [("base ms", true), ("vs base", true)],
        ];

        public void Header(string suite, string engine, int threads, double minTime, string peakMethod)
        {
            // Live, the header lines are drawn above the table until the live display ends and stay there.
            var header = live?.Header ?? info;
            header.WriteLine($"convgrad bench: suite {suite}");
            header.WriteLine($"machine: {CpuName()}, {Environment.ProcessorCount} logical processors, {RuntimeInformation.OSDescription.Trim()} {RuntimeInformation.OSArchitecture}, {RuntimeInformation.FrameworkDescription}");
            header.WriteLine(string.Create(Inv, $"engine: {engine}   threads: {threads}   timing: median of calls over >= {minTime:0.###} s after warm-up"));
            header.WriteLine(string.Create(Inv, $"fp32 FMA peak: {peak:0.0} GFLOP/s on {threads} thread(s), tier {peakMethod}"));
            if (baseline is not null)
            {
                header.WriteLine($"baseline: {Label} ({baseline.Source}); speed ratio ConvGrad/{Label} = {Label} ms / ConvGrad ms (> 1: ConvGrad is faster)");
            }
            if (Table && live is null)
            {
                info.WriteLine();
                string head = $"{"name".PadRight(_nameWidth)}  pass  layout  {"isa",-8}  {"kernel",-30}  {"ms",10}  {"GFLOP/s",8}  {"% peak",6}  {"workspace",10}";
                if (baseline is not null)
                {
                    head += $"  {"base ms",10}  {"vs base",8}";
                }
                info.WriteLine(head);
                info.WriteLine(new string('-', head.Length));
            }
            else if (!Table)
            {
                csv!.WriteLine(CsvHeader + (baseline is null ? "" : ",baseline_ms,vs_baseline"));
            }
            header.Flush();
        }

        public void Row(BenchRow row, BenchPass pass, string layout, string isa, string kernel, double ms, long workspace)
        {
            double gflops = row.Flops / (ms * 1e-3) / 1e9;
            double pct = gflops / peak * 100;
            double? baseMs = baseline is not null && baseline.TryGet(row.Name, pass, layout, out double b) ? b : null;
            double? ratio = baseMs / ms;
            if (ratio is double r && !row.Name.StartsWith("seed", StringComparison.Ordinal))
            {
                if (!_ratios.TryGetValue((pass, layout), out var list))
                {
                    _ratios[(pass, layout)] = list = [];
                }
                list.Add(r);
            }
            if (Table)
            {
                string pctText = double.IsNaN(pct) ? "" : pct.ToString(pct >= 0.1 ? "0.0" : "0.00", Inv) + "%";
                string baseText = baseMs is double bm ? Ms(bm) : "-", ratioText = ratio is double rr ? rr.ToString("0.00", Inv) + "x" : "-";
                if (live is not null)
                {
                    string[] cells = [row.Name, PassName(pass), layout, isa, kernel, Ms(ms), Rate(gflops), pctText, Bytes(workspace)];
                    live.Row(baseline is null ? cells : [.. cells, baseText, ratioText]);
                    return;
                }
                string line = string.Create(Inv,
                    $"{row.Name.PadRight(_nameWidth)}  {PassName(pass),-4}  {layout,-6}  {isa,-8}  {kernel,-30}  {Ms(ms),10}  {Rate(gflops),8}  {pctText,6}  {Bytes(workspace),10}");
                if (baseline is not null)
                {
                    line += string.Create(Inv, $"  {baseText,10}  {ratioText,8}");
                }
                info.WriteLine(line);
                info.Flush();
            }
            else
            {
                string line = string.Create(Inv, $"{row.Name},{PassName(pass)},{layout},{isa},{kernel},{ms:0.######},{gflops:0.###},{(double.IsNaN(pct) ? "" : pct.ToString("0.##", Inv))},{workspace}");
                if (baseline is not null)
                {
                    line += string.Create(Inv, $",{(baseMs is double bm ? bm.ToString("0.######", Inv) : "")},{(ratio is double rr ? rr.ToString("0.####", Inv) : "")}");
                }
                csv!.WriteLine(line);
                csv.Flush();
            }
        }

        public void Footer()
        {
            if (baseline is null)
            {
                return;
            }
            if (Table)
            {
                info.WriteLine();
            }
            var layouts = _ratios.Keys.Select(k => k.Item2).Distinct().DefaultIfEmpty("").ToList();
            foreach (var layout in layouts)
            foreach (var pass in passes)
            {
                var list = _ratios.GetValueOrDefault((pass, layout)) ?? [];
                double? geomean = list.Count == 0 ? null : Math.Exp(list.Average(Math.Log));
                if (Table)
                {
                    string on = layout == "" ? "" : $" {layout}";
                    info.WriteLine(string.Create(Inv,
                        $"geomean speed vs {Label},{on} {PassName(pass),-3} ({list.Count} rows, seed excluded): {(geomean is double gm ? gm.ToString("0.00", Inv) + "x" : "-")}"));
                }
                else
                {
                    csv!.WriteLine(string.Create(Inv, $"geomean,{PassName(pass)},{layout},,,,,,,,{(geomean is double gm ? gm.ToString("0.####", Inv) : "")}"));
                }
            }
        }

        /// <summary>Four significant digits at most, at least three decimals below 10 ms.</summary>
        private static string Ms(double ms) => ms.ToString(ms >= 100 ? "0.0" : ms >= 10 ? "0.00" : ms >= 0.1 ? "0.000" : "0.0000", Inv);

        private static string Rate(double gflops) => gflops.ToString(gflops >= 10 ? "0.0" : gflops >= 0.1 ? "0.00" : "0.0000", Inv);

        private static string Bytes(long b) => ConvPlanInfo.FormatBytes(b);

        private static string CpuName()
        {
            try
            {
                if (File.Exists("/proc/cpuinfo"))
                {
                    var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
                    if (line is not null && line.IndexOf(':', StringComparison.Ordinal) is int i and >= 0)
                    {
                        return line[(i + 1)..].Trim();
                    }
                }
            }
            catch (IOException)
            {
            }
            return RuntimeInformation.ProcessArchitecture.ToString();
        }
    }
}
