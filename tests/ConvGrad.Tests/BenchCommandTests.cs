using System.Globalization;
using ConvGrad.Cli;

namespace ConvGrad.Tests;

/// <summary><c>convgrad bench</c>: its CSV readers, its output format on a tiny suite, and its usage errors (no timed assertions).</summary>
public sealed class BenchCommandTests : IDisposable
{
    private const string SuiteHeader = "name,N,C,H,W,K,R,S,stride_h,stride_w,pad_h,pad_w,dil_h,dil_w,groups";
    private const string BaselineHeader =
        "name,gflop,fwd_ms,fwd_gflops,bwd_data_ms,bwd_data_gflops,bwd_weight_ms,bwd_weight_gflops,impl_fwd,impl_bwd_data,impl_bwd_weight,max_rel_err,foreign_cpu_pct";

    private readonly string _dir = Directory.CreateTempSubdirectory("convgrad-bench-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, params string[] lines)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void Suite_BundledFile_ParsesEveryRow()
    {
        var rows = BenchSuite.Load(Path.Combine(TestPaths.RepoRoot, BenchSuite.DefaultRelativePath));
        Assert.Equal(14, rows.Count);
        var dw = rows.Single(r => r.Name == "mbv2-dw3x3s2-56");
        Assert.Equal(new BenchRow("mbv2-dw3x3s2-56", 8, 144, 56, 56, 144, 3, 3, 2, 2, 1, 1, 1, 1, 144), dw);
        Assert.Equal(2.0 * 8 * 144 * 28 * 28 * 1 * 3 * 3, dw.Flops);
        Assert.True(dw.Strided);
        Assert.Equal("mbv2-dw3x3s2-56-s1", dw.StrideOneTwin.Name);
        Assert.Equal(2.0 * 8 * 144 * 56 * 56 * 9, dw.StrideOneTwin.Flops);
    }

    [Fact]
    public void Suite_ColumnsMayComeInAnyOrder()
    {
        var rows = BenchSuite.Parse(["groups,name,N,C,H,W,K,R,S,stride_h,stride_w,pad_h,pad_w,dil_h,dil_w", "2,a,1,4,5,6,2,3,1,1,2,0,1,1,1"], "t");
        Assert.Equal(new BenchRow("a", 1, 4, 5, 6, 2, 3, 1, 1, 2, 0, 1, 1, 1, 2), rows.Single());
    }

    [Theory]
    [InlineData("name,N,C,H,W,K,R,S,stride_h,stride_w,pad_h,pad_w,dil_h,dil_w", "a,1,1,4,4,1,2,2,1,1,0,0,1,1", "lacks column 'groups'")]
    [InlineData(SuiteHeader, "a,1,1,4,4,1,2,2,x,1,0,0,1,1,1", "t:2: stride_h must be an integer >= 1; got 'x'")]
    [InlineData(SuiteHeader, "a,1,1,4,4,1,2,2,1,1,0,0,1,1", "t:2: 14 fields")]
    [InlineData(SuiteHeader, "a,1,3,4,4,2,2,2,1,1,0,0,1,1,2", "t:2: row a:")]
    [InlineData(SuiteHeader, "a,1,1,4,4,1,9,2,1,1,0,0,1,1,1", "t:2: row a:")]
    public void Suite_BadLines_AreReportedWithTheirLine(string header, string line, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => BenchSuite.Parse([header, line], "t"));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Baseline_ReadsTheOneDnnColumns()
    {
        var b = BenchBaseline.Parse(
        [
            BaselineHeader,
            "rn50-3x3-56,1.84961,12.5,147.9,13.25,139.6,15,123.3,jit:avx2,jit:avx2,jit:avx2,3.1e-07,0.4",
            "mbv2-dw3x3-28,0.0216,0.21,103,2.5,8.7,0.5,43,jit_dw:avx2,jit_dw:avx2,jit_dw:avx2,1.0e-07,1.0",
        ], "b");
        Assert.Equal(6, b.Count);
        Assert.Equal("oneDNN", b.Label);
        // oneDNN runs on its own blocked layouts, reorders outside its timing: it is compared with our blocked rows only.
        Assert.Equal(12.5, Ms(b, "rn50-3x3-56", BenchPass.Forward, "blocked"));
        Assert.Equal(13.25, Ms(b, "rn50-3x3-56", BenchPass.BackwardData, "blocked"));
        Assert.Equal(15.0, Ms(b, "rn50-3x3-56", BenchPass.BackwardWeight, "blocked"));
        Assert.Equal(2.5, Ms(b, "mbv2-dw3x3-28", BenchPass.BackwardData, "blocked"));
        Assert.False(b.TryGet("rn50-3x3-56", BenchPass.Forward, "nchw", out _));
        Assert.False(b.TryGet("no-such-row", BenchPass.Forward, "blocked", out _));
    }

    private static double Ms(BenchBaseline b, string name, BenchPass pass, string layout)
    {
        Assert.True(b.TryGet(name, pass, layout, out double ms), $"{name}/{pass}/{layout} missing");
        return ms;
    }

    /// <summary>Our own CSV (another build or tier, or bench/torch_conv_bench.py) is a baseline too, matched by name, pass and layout.</summary>
    [Fact]
    public void Baseline_ReadsOurOwnCsv_AndPyTorchsByLayout()
    {
        var ours = BenchBaseline.Parse(
        [
            BenchCommand.CsvHeader,
            "a,fwd,nchw,avx2,gemm6x16 avx2,1.5,10,5,100",
            "a,dx,nchw,avx2,gemm6x16 avx2,2.5,10,5,100",
            "a,dx,blocked,avx2,direct avx2,0.5,10,5,100",
            "geomean,dx,,,,,,,,,1.2",
        ], "ours");
        Assert.Equal("baseline", ours.Label);
        Assert.Equal(3, ours.Count);
        Assert.Equal(1.5, Ms(ours, "a", BenchPass.Forward, "nchw"));
        Assert.Equal(2.5, Ms(ours, "a", BenchPass.BackwardData, "nchw"));
        Assert.Equal(0.5, Ms(ours, "a", BenchPass.BackwardData, "blocked"));
        Assert.False(ours.TryGet("a", BenchPass.BackwardWeight, "nchw", out _));
        var torch = BenchBaseline.Parse([BenchCommand.CsvHeader, "a,dw,nchw,pytorch,torch 1.13.1 mkldnn,3,1,,0"], "torch");
        Assert.Equal("PyTorch", torch.Label);
        Assert.Equal(3.0, Ms(torch, "a", BenchPass.BackwardWeight, "nchw"));
        var bad = Assert.Throws<InvalidDataException>(() => BenchBaseline.Parse([BenchCommand.CsvHeader, "a,bwd,nchw,x,y,1,1,1,1"], "t"));
        Assert.Contains("t:2: pass must be fwd, dx or dw", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Baseline_WrongFile_IsRejected()
    {
        var e = Assert.Throws<InvalidDataException>(() => BenchBaseline.Parse([SuiteHeader, "a,1,1,4,4,1,2,2,1,1,0,0,1,1,1"], "b"));
        Assert.Contains("not a oneDNN baseline", e.Message, StringComparison.Ordinal);
        var bad = Assert.Throws<InvalidDataException>(() => BenchBaseline.Parse([BaselineHeader, "a,1,x,1,1,1,1,1,i,i,i,0,0"], "b"));
        Assert.Contains("b:2: fwd_ms", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Csv_HasOneLinePerRowAndPass_WithStrideOneTwins()
    {
        string suite = Write("suite.csv", SuiteHeader, "seed-4x4-k2-s2,1,1,4,4,1,2,2,2,2,0,0,1,1,1", "tiny-dw,1,2,6,7,4,3,3,1,1,1,1,1,1,2");
        var (code, stdout, stderr) = Cli("bench", "--suite", suite, "--min-time", "0", "--format", "csv", "--threads", "1", "--layout", "nchw");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal("name,pass,layout,isa,kernel,ms,gflops,peak_pct,workspace_bytes", lines[0]);
        var body = lines.Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(
            ["seed-4x4-k2-s2/fwd", "seed-4x4-k2-s2/dx", "seed-4x4-k2-s2/dw", "seed-4x4-k2-s2-s1/fwd", "seed-4x4-k2-s2-s1/dx", "seed-4x4-k2-s2-s1/dw",
             "tiny-dw/fwd", "tiny-dw/dx", "tiny-dw/dw"],
            body.Select(f => $"{f[0]}/{f[1]}"));
        string isa = ConvOptions.Default.EffectiveIsa.ToString().ToLowerInvariant();
        foreach (var f in body)
        {
            Assert.Equal(9, f.Length);
            Assert.Equal("nchw", f[2]);
            Assert.Equal(isa, f[3]);
            Assert.EndsWith(" " + isa, f[4], StringComparison.Ordinal);
            double ms = double.Parse(f[5], CultureInfo.InvariantCulture);
            double gflops = double.Parse(f[6], CultureInfo.InvariantCulture);
            Assert.True(ms > 0 && gflops >= 0);
            Assert.True(long.Parse(f[8], CultureInfo.InvariantCulture) >= 0);
        }
        // The kernel column names what the engine's dispatch picks: depthwise kernels for tiny-dw, the tier's GEMM for the seed's forward.
        Assert.StartsWith("depthwise-", body.Single(f => f[0] == "tiny-dw" && f[1] == "fwd")[4], StringComparison.Ordinal);
        Assert.Equal(Cpu.FastBackend.GemmKernelName(Cpu.IsaTiers.Best), body.Single(f => f[0] == "seed-4x4-k2-s2" && f[1] == "fwd")[4]);
        Assert.Contains("fp32 FMA peak", stderr, StringComparison.Ordinal);
        Assert.Contains($"tier {isa} (", stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// A oneDNN baseline adds its ms and the ratio to the blocked rows (its layouts) and not to the nchw rows, with a
    /// geometric mean per pass and layout that leaves out the seed.
    /// </summary>
    [SkippableFact]
    public void Baseline_AddsRatioPerRowAndGeomeanWithoutSeed()
    {
        Skip.If(BlockedBench.BlockSize(ConvOptions.Default, false) == 0, "this machine has no AVX2 or AVX-512 tier, so no blocked rows to compare oneDNN with");
        string suite = Write("suite.csv", SuiteHeader, "seed-4x4-k2-s2,1,1,4,4,1,2,2,2,2,0,0,1,1,1", "tiny-16,1,16,6,7,16,3,3,1,1,1,1,1,1,1");
        string baseline = Write("onednn.csv", BaselineHeader,
            "seed-4x4-k2-s2,1e-06,0.001,1,0.001,1,0.001,1,ref,ref,ref,0,0",
            "tiny-16,1e-06,50,1,60,1,70,1,ref,ref,ref,0,0");
        var (code, stdout, stderr) = Cli("bench", "--suite", suite, "--baseline", baseline, "--min-time", "0", "--format", "csv", "--threads", "1", "--passes", "dx,fwd");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal("name,pass,layout,isa,kernel,ms,gflops,peak_pct,workspace_bytes,baseline_ms,vs_baseline", lines[0]);
        var rows = lines.Skip(1).Select(l => l.Split(',')).ToList();
        var tinyDx = rows.Single(f => f[0] == "tiny-16" && f[1] == "dx" && f[2] == "blocked");
        Assert.StartsWith("direct-blocked", tinyDx[4], StringComparison.Ordinal);
        double ratio = double.Parse(tinyDx[10], CultureInfo.InvariantCulture);
        // ratio = oneDNN ms / ConvGrad ms, checked to the precision the CSV carries: ms is printed to 6 decimals and
        // the ratio to 4, so 60 / printed-ms may differ from the printed ratio by ratio·(0.5e-6 / ms) + 0.5e-4 at most.
        double ms = double.Parse(tinyDx[5], CultureInfo.InvariantCulture);
        Assert.InRange(Math.Abs(60 / ms - ratio), 0, ratio * (0.5e-6 / ms) + 0.5e-4 + 1e-9);
        Assert.Equal("", rows.Single(f => f[0] == "tiny-16" && f[1] == "dx" && f[2] == "nchw")[10]); // oneDNN is not compared with nchw rows
        Assert.Equal("", rows.Single(f => f[0] == "seed-4x4-k2-s2-s1" && f[1] == "fwd" && f[2] == "blocked")[10]); // twins have no baseline
        // The geometric mean of one non-seed row is that row's ratio: the seed's ratio is excluded.
        var geoDx = rows.Single(f => f[0] == "geomean" && f[1] == "dx");
        Assert.Equal("blocked", geoDx[2]);
        Assert.Equal(ratio, double.Parse(geoDx[10], CultureInfo.InvariantCulture), 3);
        Assert.Equal(["dx", "fwd"], rows.Where(f => f[0] == "tiny-16" && f[2] == "nchw").Select(f => f[1]));
    }

    /// <summary>
    /// By default every row is timed in both layouts: nchw through the public API (kernel = the plan's choice) and
    /// blocked on tensors already in the layout (kernel = the blocked plan's name); rows the blocked kernels do not cover
    /// have no blocked line; --layout picks one.
    /// </summary>
    [SkippableFact]
    public void Csv_TimesBothLayouts_AndLayoutOptionPicksOne()
    {
        int block = BlockedBench.BlockSize(ConvOptions.Default, false);
        Skip.If(block == 0, "this machine has no AVX2 or AVX-512 tier, so there is no blocked layout");
        string suite = Write("suite.csv", SuiteHeader, "wide,1,24,9,9,20,3,3,1,1,1,1,1,1,1", "tiny-dw,1,2,6,7,4,3,3,1,1,1,1,1,1,2");
        var (code, stdout, stderr) = Cli("bench", "--suite", suite, "--min-time", "0", "--format", "csv", "--threads", "1");
        Assert.True(code == 0, stderr);
        var body = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(
            ["wide/fwd/nchw", "wide/dx/nchw", "wide/dw/nchw", "wide/fwd/blocked", "wide/dx/blocked", "wide/dw/blocked",
             "tiny-dw/fwd/nchw", "tiny-dw/dx/nchw", "tiny-dw/dw/nchw"],
            body.Select(f => $"{f[0]}/{f[1]}/{f[2]}"));
        var p = ConvProblem.ForConv(new ConvGeometry([1, 1], [1, 1], [1, 1], [1, 1]), [1, 24, 9, 9], [20, 24, 3, 3]);
        var plan = new Cpu.Blocked.BlockedConvPlan(p, block);
        var tier = Cpu.IsaTiers.Best;
        Assert.Equal(plan.Name(ConvPass.Forward), body.Single(f => f[0] == "wide" && f[1] == "fwd" && f[2] == "blocked")[4]);
        Assert.Equal(plan.Name(ConvPass.BackwardWeight), body.Single(f => f[0] == "wide" && f[1] == "dw" && f[2] == "blocked")[4]);
        Assert.Equal(Cpu.ConvPlanner.Plan(p, ConvPass.BackwardData, tier, 1).Name, body.Single(f => f[0] == "wide" && f[1] == "dx" && f[2] == "nchw")[4]);

        var (code2, stdout2, stderr2) = Cli("bench", "--suite", suite, "--min-time", "0", "--format", "csv", "--threads", "1", "--layout", "blocked", "--passes", "fwd");
        Assert.True(code2 == 0, stderr2);
        var only = stdout2.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(["wide/fwd/blocked"], only.Select(f => $"{f[0]}/{f[1]}/{f[2]}"));

        var (code3, _, stderr3) = Cli("bench", "--suite", suite, "--layout", "nhwc");
        Assert.Equal(2, code3);
        Assert.Contains("--layout must be nchw, blocked or all; got 'nhwc'", stderr3, StringComparison.Ordinal);
    }

    /// <summary>With --isa, every row and the peak name the capped tier, and the kernel is that tier's.</summary>
    [SkippableTheory]
    [InlineData("avx2")]
    [InlineData("portable")]
    public void Csv_IsaCap_NamesTheTierThatRan(string isa)
    {
        var cap = Enum.Parse<ConvIsa>(isa, ignoreCase: true);
        IsaTierCases.SkipUnlessSupported(cap);
        string suite = Write("suite.csv", SuiteHeader, "small-3x3,1,4,9,9,8,3,3,1,1,1,1,1,1,1");
        var (code, stdout, stderr) = Cli("bench", "--suite", suite, "--min-time", "0", "--format", "csv", "--threads", "1", "--isa", isa, "--passes", "fwd", "--layout", "nchw");
        Assert.True(code == 0, stderr);
        var row = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[1].Split(',');
        Assert.Equal(isa, row[3]);
        var p = ConvProblem.ForConv(new ConvGeometry([1, 1], [1, 1], [1, 1], [1, 1]), [1, 4, 9, 9], [8, 4, 3, 3]);
        var tier = Cpu.IsaTiers.Resolve(cap);
        // 4 input channels are half an 8-channel block: the direct blocked kernel on avx2, the GEMM on portable.
        Assert.StartsWith(tier == Cpu.IsaTier.Avx2 ? "direct-blocked8 avx2 " : Cpu.FastBackend.GemmKernelName(tier), row[4], StringComparison.Ordinal);
        Assert.Equal(Cpu.ConvPlanner.Plan(p, ConvPass.Forward, tier, 1).Name, row[4]);
        Assert.Contains($"tier {isa} (", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Table_HasAHeaderNamingEngineThreadsAndPeak()
    {
        string suite = Write("suite.csv", SuiteHeader, "tiny-dw,1,2,6,7,4,3,3,2,1,1,1,1,1,2");
        var (code, stdout, stderr) = Cli("bench", "--suite", suite, "--min-time", "0", "--threads", "1", "--only", "tiny-dw", "--passes", "dw");
        Assert.True(code == 0, stderr);
        Assert.Contains($"engine: {ConvOptions.Default.Engine.ToString().ToLowerInvariant()}", stdout, StringComparison.Ordinal);
        Assert.Contains("threads: 1", stdout, StringComparison.Ordinal);
        Assert.Contains("fp32 FMA peak", stdout, StringComparison.Ordinal);
        Assert.Contains("tier ", stdout, StringComparison.Ordinal);
        var table = stdout.Split('\n').Where(l => l.StartsWith("tiny-dw", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, table.Count); // the strided row and its -s1 twin
        Assert.StartsWith("tiny-dw-s1", table[1], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--format", "xml")]
    [InlineData("--passes", "fwd,bwd")]
    [InlineData("--engine", "nosuch")]
    [InlineData("--isa", "sse9")]
    [InlineData("--min-time", "-1")]
    [InlineData("--threads", "many")]
    [InlineData("--only", "no-such-row")]
    [InlineData("--suite", "/no/such/suite.csv")]
    [InlineData("--baseline", "/no/such/onednn.csv")]
    [InlineData("--frobnicate", "1")]
    public void BadUsage_ExitsWith2AndOneLine(string option, string value)
    {
        string suite = Write("suite.csv", SuiteHeader, "seed-4x4-k2-s2,1,1,4,4,1,2,2,2,2,0,0,1,1,1");
        var args = option == "--suite" ? new[] { "bench", option, value } : ["bench", "--suite", suite, "--min-time", "0", option, value];
        var (code, stdout, stderr) = Cli(args);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("convgrad bench: ", lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public void BadSuiteFile_ExitsWith2AndNamesTheLine()
    {
        string suite = Write("suite.csv", SuiteHeader, "a,1,1,4,4,1,2,2,1,1,0,0,1,1,zero");
        var (code, _, stderr) = Cli("bench", "--suite", suite);
        Assert.Equal(2, code);
        Assert.Contains("suite.csv:2: groups", stderr, StringComparison.Ordinal);
    }
}
