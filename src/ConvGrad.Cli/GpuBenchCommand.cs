using System.Globalization;

namespace ConvGrad.Cli;

/// <summary>
/// <c>convgrad gpu-bench</c>: the benchmark suite through the GPU kernels, in the CSV format that
/// <c>scripts/gpu/cudnn_bench.py</c> writes for cuDNN, so <c>scripts/gpu/run-gpu-bench.sh</c> can put them side by side.
/// </summary>
internal sealed class GpuBenchCommand : ICommand
{
    public string Name => "gpu-bench";
    public string Summary => "time the GPU kernels (forward, dx, dw) on the benchmark suite";
    public string Usage => """
        usage: convgrad gpu-bench [--device cuda|ilgpu-cpu] [--suite FILE] [--batch-scale S] [--only NAME,...]
                                  [--rounds R] [--reps N] [--csv FILE]

        Times forward, backward-data and backward-weight of every suite layer (bench/conv2d-suite.csv) on
        device-resident tensors (no host<->device copy is timed): 2 warm-up calls, then R rounds of N
        back-to-back calls between device synchronisations; prints the median ms per call and
        GFLOP/s = 2*N*K*Ho*Wo*(C/groups)*R*S / time, one line per layer and pass.

          --device       cuda (default) or ilgpu-cpu (the same kernels on the CPU: slow, for testing)
          --suite        the suite CSV (default bench/conv2d-suite.csv under the current folder)
          --batch-scale  multiply every layer's batch N by S (default 1)
          --only         comma-separated layer names to run (default: all)
          --rounds       timed rounds, median reported (default 5)
          --reps         calls per round (default 10)
          --csv          also write name,batch,pass,ms,gflops rows to FILE
        """;

    public IReadOnlySet<string> Flags { get; } = new HashSet<string>();

    public int Run(Args args, TextWriter stdout, TextWriter stderr)
    {
        var device = DeviceOption.Parse(args);
        if (!args.Flag("device") && device.Name == DeviceOption.Cpu)
        {
            device = new DeviceOption(DeviceOption.Cuda);
        }
        string suite = args.Option("suite", Path.Combine("bench", "conv2d-suite.csv"));
        int scale = args.Int("batch-scale", 1, min: 1, max: 1024);
        string? only = args.Option("only");
        int rounds = args.Int("rounds", 5, min: 1, max: 1000);
        int reps = args.Int("reps", 10, min: 1, max: 100000);
        string? csvPath = args.Option("csv");
        args.EnsureAllUsed();
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
        stdout.WriteLine($"{"layer",-18} {"N",4} {"pass",-6} {"ms",10} {"GFLOP/s",9}");
        using var csv = csvPath is null ? null : new StreamWriter(csvPath);
        csv?.WriteLine("name,batch,pass,ms,gflops");
        foreach (var l in layers)
        {
            int n = l.N * scale;
            int[] x = [n, l.C, l.H, l.W], w = [l.K, l.C / l.Groups, l.R, l.S];
            double flops = 2.0 * ConvProblem.ForConv(l.Geometry, x, w).MultiplyAdds;
            var (f, dxMs, dwMs) = GpuPassTimer.Measure(gpu, l.Geometry, x, w, rounds: rounds, reps: reps);
            foreach (var (pass, ms) in new[] { ("fwd", f), ("dx", dxMs), ("dw", dwMs) })
            {
                double gflops = flops / (ms * 1e6);
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{l.Name,-18} {n,4} {pass,-6} {ms,10:0.000} {gflops,9:0.0}"));
                csv?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{l.Name},{n},{pass},{ms:0.0000},{gflops:0.00}"));
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
