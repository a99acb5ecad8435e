using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace ConvGrad.Cli;

/// <summary><c>convgrad bench</c>: times forward, backward-data and backward-weight on every row of the benchmark suite.</summary>
internal sealed class BenchCommand : ICommand
{
    private static readonly (string Name, BenchPass Pass)[] PassNames =
        [("fwd", BenchPass.Forward), ("dx", BenchPass.BackwardData), ("dw", BenchPass.BackwardWeight)];

    public string Name => "bench";
    public string Summary => "time the three passes on the benchmark suite (ms, GFLOP/s, % of FMA peak)";
    public string Usage => """
        usage: convgrad bench [--suite FILE] [--threads N] [--passes fwd,dx,dw] [--format table|csv]
                              [--baseline FILE] [--engine NAME] [--isa NAME] [--only NAME[,NAME...]]
                              [--min-time SECONDS] [--device cpu|cuda|ilgpu-cpu] [--layout nchw|blocked|all]

        Times each pass on each row of the suite CSV (default: bench/conv2d-suite.csv, looked up from the
        current folder and then from the executable's folder upwards): one warm-up, then repeated calls
        into preallocated outputs for at least --min-time seconds; the median call is reported as ms,
        GFLOP/s (FLOPs = 2·N·K·Ho·Wo·(C/groups)·R·S for every pass) and percent of this machine's fp32
        FMA peak for the instruction-set tier the engine runs on, which the command measures first and
        prints with the tier's name (12 independent FMA chains per thread in the tier's widest vectors:
        Vector512 for avx512, Vector256 for avx2, Vector128 for portable; on --threads threads; the
        method of bench/onednn/peak.cpp). Every row with a stride > 1 is followed by the same layer at
        stride 1, named NAME-s1, so the cost of striding is visible. Each row names its layout, the tier
        and the kernel that ran. Layouts: nchw times the public NCHW API, every conversion included (as
        PyTorch is timed); blocked times tensors already in the channel-blocked layout (nChw16c on
        avx512, nChw8c on avx2) with a plan made once, conversions outside (as oneDNN is timed); rows
        the blocked kernels do not cover (portable tier, other engines, devices, groups of partial
        blocks) have no blocked line.

          --suite     the suite CSV (name,N,C,H,W,K,R,S,stride_h,stride_w,pad_h,pad_w,dil_h,dil_w,groups)
          --threads   worker threads (default: one per processor)
          --passes    which passes, comma-separated from fwd, dx, dw (default: all three)
          --format    table (default; aligned, with a header naming machine, threads, peak and engine)
                      or csv (name,pass,layout,isa,kernel,ms,gflops,peak_pct,workspace_bytes; the header
                      goes to stderr)
          --baseline  a CSV to compare with: that of bench/onednn/run.sh --csv FILE (oneDNN), or one
                      written by this command or by bench/torch_conv_bench.py (PyTorch) with
                      --format csv; adds the baseline's ms and the speed ratio ConvGrad/baseline (> 1:
                      ConvGrad is faster) per row, and its geometric mean per pass and layout (seed rows
                      excluded); rows match by name, pass and layout when the baseline has layouts; the
                      oneDNN CSV has none and is compared with the blocked rows (its own layouts)
          --engine    one of: {engines}; default {default}
          {isa}
          --layout    nchw, blocked or all (default: all)
          --only      time only these rows (a strided row brings its -s1 twin; NAME-s1 alone is allowed)
          --min-time  seconds of timed calls per measurement (default 0.5; 0 = a single timed call)
          {device}
                     (on a GPU device each timed call includes its host<->device copies;
                     convgrad gpu-bench times device-resident tensors)
        """.Replace("{device}", DeviceOption.Usage, StringComparison.Ordinal).Replace("{isa}", IsaOption.Usage, StringComparison.Ordinal).Replace("{engines}", string.Join(", ", EngineNames), StringComparison.Ordinal)
           .Replace("{default}", EngineName(ConvOptions.Default.Engine), StringComparison.Ordinal);

    public IReadOnlySet<string> Flags { get; } = new HashSet<string>();

    private static IEnumerable<string> EngineNames => Enum.GetValues<ConvEngine>().Select(EngineName);

    private static string EngineName(ConvEngine e) => e.ToString().ToLowerInvariant();

    public int Run(Args args, TextWriter stdout, TextWriter stderr)
    {
        string? suiteArg = args.Option("suite");
        int threadsArg = args.Int("threads", 0, min: 0, max: 1024);
        var passes = ParsePasses(args.Option("passes", "fwd,dx,dw"));
        string format = args.Option("format", "table");
        string? baselineArg = args.Option("baseline");
        string engineArg = args.Option("engine", EngineName(ConvOptions.Default.Engine));
        string? only = args.Option("only");
        double minTime = args.Double("min-time", 0.5, min: 0, max: 3600);
        string layoutArg = args.Option("layout", "all");
        var device = DeviceOption.Parse(args);
        ConvIsa isa = IsaOption.Parse(args);
        args.EnsureAllUsed();

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

        var tier = Cpu.IsaTiers.Resolve(options.MaxIsa);
        string isaName = gpu is not null ? device.Name : engine == ConvEngine.Fast ? Cpu.IsaTiers.Name(tier) : "scalar";
        double peak = FmaPeak.Measure(tier, threads, Math.Clamp(minTime / 5, 0.02, 0.2));
        var report = new BenchReport(format == "csv" ? stdout : null, format == "table" ? stdout : stderr, rows, passes, baseline, peak);
        report.Header(suitePath, engineArg, threads, minTime, $"{Cpu.IsaTiers.Name(tier)} ({FmaPeak.Method(tier)}, 12 independent chains per thread, best of 7)");
        int block = BlockedBench.BlockSize(options, gpu is not null);
        foreach (var row in rows)
        {
            foreach (var layout in layouts)
            {
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
        report.Footer();
        return ExitCodes.Success;
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
        return Cpu.FastBackend.For(Cpu.IsaTiers.Resolve(options.MaxIsa)).KernelName(p, ToConvPass(pass));
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
        var x = RandomTensor(random, p.InputShape);
        var w = RandomTensor(random, p.WeightShape);
        var dy = RandomTensor(random, p.OutputShape);
        var backend = Backends.For(options);
        foreach (var pass in passes)
        {
            Action call;
            long workspace;
            switch (pass)
            {
                case BenchPass.Forward:
                    var y = Tensor<float>.Uninitialized(p.OutputShape);
                    call = () => Conv.Forward(x, w, null, g, y, options);
                    workspace = backend.WorkspaceBytes(p, ConvPass.Forward, options.EffectiveThreads);
                    break;
                case BenchPass.BackwardData:
                    var dx = Tensor<float>.Uninitialized(p.InputShape);
                    call = () => Conv.BackwardData(dy, w, g, dx, options);
                    workspace = backend.WorkspaceBytes(p, ConvPass.BackwardData, options.EffectiveThreads);
                    break;
                default:
                    var dw = Tensor<float>.Uninitialized(p.WeightShape);
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
        BenchBaseline? baseline, double peak)
    {
        private readonly int _nameWidth = Math.Max(4, rows.Select(r => r.Name.Length).DefaultIfEmpty(0).Max());
        private readonly Dictionary<(BenchPass, string), List<double>> _ratios = [];
        private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

        private bool Table => csv is null;

        private string Label => baseline?.Label ?? "";

        public void Header(string suite, string engine, int threads, double minTime, string peakMethod)
        {
            info.WriteLine($"convgrad bench: suite {suite}");
            info.WriteLine($"machine: {CpuName()}, {Environment.ProcessorCount} logical processors, {RuntimeInformation.OSDescription.Trim()} {RuntimeInformation.OSArchitecture}, {RuntimeInformation.FrameworkDescription}");
            info.WriteLine(string.Create(Inv, $"engine: {engine}   threads: {threads}   timing: median of calls over >= {minTime:0.###} s after warm-up"));
            info.WriteLine(string.Create(Inv, $"fp32 FMA peak: {peak:0.0} GFLOP/s on {threads} thread(s), tier {peakMethod}"));
            if (baseline is not null)
            {
                info.WriteLine($"baseline: {Label} ({baseline.Source}); speed ratio ConvGrad/{Label} = {Label} ms / ConvGrad ms (> 1: ConvGrad is faster)");
            }
            if (Table)
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
            else
            {
                csv!.WriteLine(CsvHeader + (baseline is null ? "" : ",baseline_ms,vs_baseline"));
            }
            info.Flush();
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
                string line = string.Create(Inv,
                    $"{row.Name.PadRight(_nameWidth)}  {PassName(pass),-4}  {layout,-6}  {isa,-8}  {kernel,-30}  {Ms(ms),10}  {Rate(gflops),8}  {(double.IsNaN(pct) ? "" : pct.ToString(pct >= 0.1 ? "0.0" : "0.00", Inv) + "%"),6}  {Bytes(workspace),10}");
                if (baseline is not null)
                {
                    line += string.Create(Inv, $"  {(baseMs is double bm ? Ms(bm) : "-"),10}  {(ratio is double rr ? rr.ToString("0.00", Inv) + "x" : "-"),8}");
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

        private static string Bytes(long b) => b switch
        {
            < 1024 => $"{b} B",
            < 1024 * 1024 => string.Create(Inv, $"{b / 1024.0:0.0} KiB"),
            _ => string.Create(Inv, $"{b / (1024.0 * 1024):0.0} MiB"),
        };

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
