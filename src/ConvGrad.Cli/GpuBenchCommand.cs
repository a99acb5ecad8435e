using System.CommandLine;
using System.Globalization;
using ConvGrad.Gpu;

namespace ConvGrad.Cli;

/// <summary>
/// <c>convgrad gpu-bench</c>: the benchmark suite through the GPU kernels, in the CSV format that
/// <c>scripts/gpu/cudnn_bench.py</c> writes for cuDNN, so <c>scripts/gpu/run-gpu-bench.sh</c> can put them side by side.
/// </summary>
internal sealed class GpuBenchCommand : CliCommand
{
    private readonly Option<string> _device = DeviceOption.Declare(DeviceOption.Cuda,
        "cuda (an NVIDIA GPU through ILGPU) or ilgpu-cpu (the same kernels on the CPU: slow, for testing)");
    private readonly Option<string> _suite = CliOptions.Text("suite", "the suite CSV (under the current folder)", Path.Combine("bench", "conv2d-suite.csv"), helpName: "FILE");
    private readonly Option<int> _batchScale = CliOptions.Int("batch-scale", "multiply every layer's batch N by S", 1, min: 1, max: 1024);
    private readonly Option<string?> _only = CliOptions.OptionalText("only", "comma-separated layer names to run (default: all)", helpName: "NAME,...");
    private readonly Option<int> _rounds = CliOptions.Int("rounds", "timed rounds, median reported", 5, min: 1, max: 1000);
    private readonly Option<int> _reps = CliOptions.Int("reps", "calls per round", 10, min: 1, max: 100000);
    private readonly Option<string?> _csv = CliOptions.OptionalText("csv", "also write name,batch,pass,ms,gflops,kernel rows to FILE", helpName: "FILE");

    /// <summary>Declares <c>gpu-bench</c> and its options.</summary>
    public GpuBenchCommand() => Declaration = new Command("gpu-bench", """
        time the GPU kernels (forward, dx, dw) on the benchmark suite

        Times forward, backward-data and backward-weight of every suite layer (bench/conv2d-suite.csv) on
        device-resident tensors (no host<->device copy is timed): 2 warm-up calls, then R rounds of N
        back-to-back calls between device synchronisations; prints the median ms per call and
        GFLOP/s = 2*N*K*Ho*Wo*(C/groups)*R*S / time, one line per layer and pass.
        """)
    {
        Options = { _device, _suite, _batchScale, _only, _rounds, _reps, _csv },
    };

    public override Command Declaration { get; }

    public override int Run(ParseResult args, TextWriter stdout, TextWriter stderr)
    {
        var device = DeviceOption.Parse(args, _device);
        string suite = args.GetValue(_suite)!;
        int scale = args.GetValue(_batchScale);
        string? only = args.GetValue(_only);
        int rounds = args.GetValue(_rounds);
        int reps = args.GetValue(_reps);
        string? csvPath = args.GetValue(_csv);
        if (!device.IsGpu)
        {
            throw new UsageException("--device must be cuda or ilgpu-cpu (CPU timings are convgrad bench)");
        }
        var layers = SuiteLayer.Load(suite);
        if (only is not null)
        {
            var names = only.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
            var unknown = names.Where(n => layers.All(l => l.Name != n)).ToList();
            if (unknown.Count > 0)
            {
                throw new UsageException($"--only: no layer named {string.Join(", ", unknown)} in {suite}");
            }
            layers = layers.Where(l => names.Contains(l.Name)).ToList();
        }

        using var gpu = device.Open()!;
        stdout.WriteLine($"device {gpu}, batch x{scale}, median of {rounds} rounds x {reps} calls");
        stdout.WriteLine($"{"layer",-18} {"N",4} {"pass",-6} {"ms",10} {"GFLOP/s",9}  kernel");
        using var csv = csvPath is null ? null : new StreamWriter(csvPath);
        csv?.WriteLine("name,batch,pass,ms,gflops,kernel");
        foreach (var l in layers)
        {
            int n = l.N * scale;
            int[] x = [n, l.C, l.H, l.W], w = [l.K, l.C / l.Groups, l.R, l.S];
            var problem = ConvProblem.ForConv(l.Geometry, x, w);
            double flops = 2.0 * problem.MultiplyAdds;
            var (f, dxMs, dwMs) = GpuPassTimer.Measure(gpu, l.Geometry, x, w, rounds: rounds, reps: reps);
            foreach (var (pass, kind, ms) in new[] { ("fwd", ConvPass.Forward, f), ("dx", ConvPass.BackwardData, dxMs), ("dw", ConvPass.BackwardWeight, dwMs) })
            {
                double gflops = flops / (ms * 1e6);
                string kernel = GpuPasses.KernelName(problem, kind);
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{l.Name,-18} {n,4} {pass,-6} {ms,10:0.000} {gflops,9:0.0}  {kernel}"));
                csv?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{l.Name},{n},{pass},{ms:0.0000},{gflops:0.00},{kernel}"));
            }
        }
        return ExitCodes.Success;
    }
}

/// <summary>One row of <c>bench/conv2d-suite.csv</c> (symmetric padding per axis).</summary>
internal sealed record SuiteLayer(string Name, int N, int C, int H, int W, int K, int R, int S, ConvGeometry Geometry, int Groups)
{
    private const string Header = "name,N,C,H,W,K,R,S,stride_h,stride_w,pad_h,pad_w,dil_h,dil_w,groups";

    public static List<SuiteLayer> Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new UsageException($"no such suite file: {path}");
        }
        var lines = File.ReadAllLines(path).Where(l => l.Trim().Length > 0).ToList();
        if (lines.Count == 0 || lines[0].Trim() != Header)
        {
            throw new InvalidDataException($"{path}: the first line must be '{Header}'");
        }
        var layers = new List<SuiteLayer>();
        for (int i = 1; i < lines.Count; i++)
        {
            var f = lines[i].Split(',', StringSplitOptions.TrimEntries);
            if (f.Length != 15)
            {
                throw new InvalidDataException($"{path}:{i + 1}: expected 15 fields, got {f.Length}");
            }
            var v = new int[14];
            for (int j = 0; j < 14; j++)
            {
                if (!int.TryParse(f[j + 1], NumberStyles.Integer, CultureInfo.InvariantCulture, out v[j]))
                {
                    throw new InvalidDataException($"{path}:{i + 1}: field {j + 2} '{f[j + 1]}' is not an integer");
                }
            }
            var g = new ConvGeometry([v[7], v[8]], [v[9], v[10]], [v[9], v[10]], [v[11], v[12]], v[13]);
            layers.Add(new SuiteLayer(f[0], v[0], v[1], v[2], v[3], v[4], v[5], v[6], g, v[13]));
        }
        return layers;
    }
}
