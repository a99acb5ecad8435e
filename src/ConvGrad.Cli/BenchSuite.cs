using System.Globalization;

namespace ConvGrad.Cli;

/// <summary>One layer of the benchmark suite: a 2-D convolution <c>N×C×H×W</c> with <c>K</c> filters of <c>R×S</c>.</summary>
internal sealed record BenchRow(
    string Name, int N, int C, int H, int W, int K, int R, int S,
    int StrideH, int StrideW, int PadH, int PadW, int DilH, int DilW, int Groups)
{
    /// <summary>The geometry (the same padding before and after on each axis, as in the suite's definition).</summary>
    public ConvGeometry Geometry => new([StrideH, StrideW], [PadH, PadW], [PadH, PadW], [DilH, DilW], Groups);

    public int[] InputShape => [N, C, H, W];

    public int[] WeightShape => [K, C / Groups, R, S];

    public bool Strided => StrideH > 1 || StrideW > 1;

    /// <summary>The same layer at stride 1, named <c>NAME-s1</c>: timed beside every strided row so the cost of striding is visible.</summary>
    public BenchRow StrideOneTwin => this with { Name = Name + "-s1", StrideH = 1, StrideW = 1 };

    /// <summary>FLOPs of any one pass: <c>2·N·K·Ho·Wo·(C/groups)·R·S</c>.</summary>
    public double Flops => 2.0 * ConvProblem.ForConv(Geometry, InputShape, WeightShape).MultiplyAdds;
}

/// <summary>Reads the suite CSV (<c>name,N,C,H,W,K,R,S,stride_h,stride_w,pad_h,pad_w,dil_h,dil_w,groups</c>, any column order).</summary>
internal static class BenchSuite
{
    public const string DefaultRelativePath = "bench/conv2d-suite.csv";

    private static readonly string[] Columns =
        ["name", "N", "C", "H", "W", "K", "R", "S", "stride_h", "stride_w", "pad_h", "pad_w", "dil_h", "dil_w", "groups"];

    public static IReadOnlyList<BenchRow> Load(string path) => Parse(File.ReadAllLines(path), path);

    /// <summary>Parses suite lines; errors name the file and line and throw <see cref="InvalidDataException"/>.</summary>
    public static IReadOnlyList<BenchRow> Parse(IReadOnlyList<string> lines, string source)
    {
        if (lines.Count == 0 || string.IsNullOrWhiteSpace(lines[0]))
        {
            throw new InvalidDataException($"{source}: empty suite file (expected the header {string.Join(',', Columns)})");
        }
        var header = lines[0].Split(',', StringSplitOptions.TrimEntries);
        var index = new int[Columns.Length];
        for (int i = 0; i < Columns.Length; i++)
        {
            index[i] = Array.IndexOf(header, Columns[i]);
            if (index[i] < 0)
            {
                throw new InvalidDataException($"{source}: the header lacks column '{Columns[i]}' (expected {string.Join(',', Columns)})");
            }
        }
        var rows = new List<BenchRow>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int l = 1; l < lines.Count; l++)
        {
            if (string.IsNullOrWhiteSpace(lines[l]))
            {
                continue;
            }
            var f = lines[l].Split(',', StringSplitOptions.TrimEntries);
            if (f.Length != header.Length)
            {
                throw new InvalidDataException($"{source}:{l + 1}: {f.Length} fields, the header has {header.Length}");
            }
            int Int(int column, int min)
            {
                string s = f[index[column]];
                if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min)
                {
                    throw new InvalidDataException($"{source}:{l + 1}: {Columns[column]} must be an integer >= {min}; got '{s}'");
                }
                return v;
            }
            var row = new BenchRow(f[index[0]], Int(1, 1), Int(2, 1), Int(3, 1), Int(4, 1), Int(5, 1), Int(6, 1), Int(7, 1),
                Int(8, 1), Int(9, 1), Int(10, 0), Int(11, 0), Int(12, 1), Int(13, 1), Int(14, 1));
            if (row.Name.Length == 0 || !names.Add(row.Name))
            {
                throw new InvalidDataException($"{source}:{l + 1}: the row name '{row.Name}' is empty or repeated");
            }
            try
            {
                _ = row.Flops; // validates the geometry (groups divide C and K, output >= 1)
            }
            catch (ArgumentException e)
            {
                throw new InvalidDataException($"{source}:{l + 1}: row {row.Name}: {e.Message}");
            }
            rows.Add(row);
        }
        return rows;
    }

    /// <summary>The default suite: <c>bench/conv2d-suite.csv</c> in the current folder or a parent, else beside or above the executable.</summary>
    public static string FindDefault()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, DefaultRelativePath);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }
        throw new FileNotFoundException(
            $"cannot find {DefaultRelativePath} in {Directory.GetCurrentDirectory()} or {AppContext.BaseDirectory} or their parents; pass --suite FILE");
    }
}

/// <summary>
/// Times to compare <c>convgrad bench</c> with, read from either of two CSVs:
/// <list type="bullet">
/// <item>oneDNN's, written by <c>bench/onednn/run.sh --csv FILE</c>: one line per suite row, columns
/// <c>name,gflop,fwd_ms,fwd_gflops,bwd_data_ms,bwd_data_gflops,bwd_weight_ms,bwd_weight_gflops,impl_fwd,impl_bwd_data,impl_bwd_weight,…</c>;</item>
/// <item>ours, written by <c>convgrad bench --format csv</c> (another build, tier or machine) or by
/// <c>bench/torch_conv_bench.py</c> (PyTorch): one line per (row, pass, layout), columns
/// <c>name,pass,layout,isa,kernel,ms,…</c> (<c>layout</c> optional; geomean lines are skipped).</item>
/// </list>
/// A row of ours matches the same name, pass and layout, else (a CSV without layouts) the same name and pass; the
/// oneDNN rows carry the layout <c>blocked</c>, so they are compared with the blocked rows only.
/// </summary>
internal sealed class BenchBaseline
{
    private static readonly (BenchPass Pass, string Column)[] OneDnnColumns =
        [(BenchPass.Forward, "fwd_ms"), (BenchPass.BackwardData, "bwd_data_ms"), (BenchPass.BackwardWeight, "bwd_weight_ms")];

    private readonly Dictionary<(string Name, BenchPass Pass, string Layout), double> _ms;

    private BenchBaseline(string label, string source, Dictionary<(string, BenchPass, string), double> ms)
    {
        Label = label;
        Source = source;
        _ms = ms;
    }

    /// <summary>Who the baseline is, for headers: oneDNN, PyTorch, or "baseline" (a CSV of this command).</summary>
    public string Label { get; }

    /// <summary>The file it was read from.</summary>
    public string Source { get; }

    /// <summary>How many (row, pass, layout) times it holds.</summary>
    public int Count => _ms.Count;

    public static BenchBaseline Load(string path) => Parse(File.ReadAllLines(path), path);

    /// <summary>The baseline's milliseconds for a row, pass and layout (or the row and pass in any layout when the file has no layouts).</summary>
    public bool TryGet(string name, BenchPass pass, string layout, out double ms) =>
        _ms.TryGetValue((name, pass, layout), out ms) || _ms.TryGetValue((name, pass, ""), out ms);

    /// <summary>Reads either format, told apart by the header.</summary>
    public static BenchBaseline Parse(IReadOnlyList<string> lines, string source)
    {
        if (lines.Count == 0)
        {
            throw new InvalidDataException($"{source}: empty baseline file (expected the CSV of bench/onednn/run.sh --csv or of convgrad bench --format csv)");
        }
        var header = lines[0].Split(',', StringSplitOptions.TrimEntries);
        if (Array.IndexOf(header, "name") >= 0 && Array.IndexOf(header, "pass") >= 0 && Array.IndexOf(header, "ms") >= 0)
        {
            return ParseOurs(lines, header, source);
        }
        return ParseOneDnn(lines, header, source);
    }

    private static BenchBaseline ParseOneDnn(IReadOnlyList<string> lines, string[] header, string source)
    {
        int name = Array.IndexOf(header, "name");
        var columns = OneDnnColumns.Select(t => (t.Pass, t.Column, Index: Array.IndexOf(header, t.Column))).ToArray();
        if (name < 0 || columns.Any(c => c.Index < 0))
        {
            throw new InvalidDataException(
                $"{source}: not a oneDNN baseline: the header needs name, {string.Join(", ", OneDnnColumns.Select(t => t.Column))} (written by bench/onednn/run.sh --csv), " +
                "nor one of convgrad bench --format csv (name, pass, ms)");
        }
        var result = new Dictionary<(string, BenchPass, string), double>();
        for (int l = 1; l < lines.Count; l++)
        {
            if (string.IsNullOrWhiteSpace(lines[l]))
            {
                continue;
            }
            // The implementation strings after the times may themselves hold commas; the leading columns are unaffected.
            var f = lines[l].Split(',', StringSplitOptions.TrimEntries);
            foreach (var (pass, column, i) in columns)
            {
                // oneDNN runs on its preferred (blocked) layouts with reorders outside its timing: it is compared with our blocked rows.
                result[(f[name], pass, BenchCommand.BlockedLayout)] = Ms(f, i, column, source, l);
            }
        }
        return new BenchBaseline("oneDNN", source, result);
    }

    private static BenchBaseline ParseOurs(IReadOnlyList<string> lines, string[] header, string source)
    {
        int name = Array.IndexOf(header, "name"), passCol = Array.IndexOf(header, "pass"), msCol = Array.IndexOf(header, "ms");
        int layoutCol = Array.IndexOf(header, "layout"), isaCol = Array.IndexOf(header, "isa");
        var result = new Dictionary<(string, BenchPass, string), double>();
        var isas = new HashSet<string>(StringComparer.Ordinal);
        for (int l = 1; l < lines.Count; l++)
        {
            if (string.IsNullOrWhiteSpace(lines[l]))
            {
                continue;
            }
            var f = lines[l].Split(',', StringSplitOptions.TrimEntries);
            if (f[name] == "geomean")
            {
                continue;
            }
            var pass = BenchCommand.ParsePass(passCol < f.Length ? f[passCol] : "")
                ?? throw new InvalidDataException($"{source}:{l + 1}: pass must be fwd, dx or dw; got '{(passCol < f.Length ? f[passCol] : "")}'");
            string layout = layoutCol >= 0 && layoutCol < f.Length ? f[layoutCol] : "";
            if (isaCol >= 0 && isaCol < f.Length)
            {
                isas.Add(f[isaCol]);
            }
            result[(f[name], pass, layout)] = Ms(f, msCol, "ms", source, l);
        }
        string label = isas.Count == 1 && isas.Single() == "pytorch" ? "PyTorch" : "baseline";
        return new BenchBaseline(label, source, result);
    }

    private static double Ms(string[] f, int i, string column, string source, int l)
    {
        if (i >= f.Length || !double.TryParse(f[i], NumberStyles.Float, CultureInfo.InvariantCulture, out double ms) || !(ms > 0) || !double.IsFinite(ms))
        {
            throw new InvalidDataException($"{source}:{l + 1}: {column} must be a positive number; got '{(i < f.Length ? f[i] : "")}'");
        }
        return ms;
    }
}

/// <summary>The passes <c>convgrad bench</c> times, by their command-line names.</summary>
internal enum BenchPass
{
    /// <summary>fwd: y = x ⋆ w.</summary>
    Forward,
    /// <summary>dx: backward-data.</summary>
    BackwardData,
    /// <summary>dw: backward-weight.</summary>
    BackwardWeight,
}
