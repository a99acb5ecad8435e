using System.CommandLine;
using ConvGrad.Data;
using ConvGrad.Nn;
using ConvGrad.Onnx;

namespace ConvGrad.Cli;

/// <summary><c>convgrad export</c>: writes a trained model as ONNX (docs/onnx.md).</summary>
internal sealed class ExportCommand : CliCommand
{
    private readonly Option<string?> _onnx = CliOptions.OptionalText("onnx", "the ONNX file to write (required)", helpName: "FILE");
    private readonly Option<string?> _model = CliOptions.OptionalText("model",
        "the model to export: a safetensors file written by `convgrad train` (default: out/resnet.safetensors, else out/lenet.safetensors), or an .onnx file", helpName: "FILE");
    private readonly Option<int?> _batch = CliOptions.OptionalInt("batch", "a fixed batch size for the graph's input (default: a dynamic batch axis)", 1, 1_000_000);
    private readonly Option<bool> _normalize = CliOptions.Flag("normalization-in-graph",
        "put the input normalisation into the graph too, so that it takes pixels scaled to [0, 1] (the metadata says so)");
    private readonly Option<int> _opset = CliOptions.Int("opset", "the ONNX operator set to write for", 17, 13, 17);

    /// <summary>Declares <c>export</c> and its options.</summary>
    public ExportCommand() => Declaration = new Command("export", """
        write a model as ONNX, for ONNX Runtime, ML.NET or any ONNX consumer

        Traces the model's forward pass and writes it with --onnx FILE: the weights as initializers under their
        state-dict names, the class names and the normalisation in metadata_props (docs/onnx.md). The batch axis is
        dynamic unless --batch N fixes it. Prints one line naming the file, its operators and what the metadata holds.
        """)
    {
        Options = { _onnx, _model, _batch, _normalize, _opset },
    };

    public override Command Declaration { get; }

    public override int Run(ParseResult args, TextWriter stdout, TextWriter stderr)
    {
        string onnx = args.GetValue(_onnx) ?? throw new UsageException("give the file to write with --onnx FILE");
        string model = args.GetValue(_model) ?? DefaultModel();
        if (!File.Exists(model))
        {
            throw new UsageException($"no model file {model} (run `convgrad train` first or pass --model FILE)");
        }
        var loaded = ModelFiles.Load(model, new ConvOptions());
        var metadata = loaded.Metadata with { NormalizationInGraph = args.GetValue(_normalize) };
        if (metadata.NormalizationInGraph && !metadata.HasNormalization)
        {
            throw new UsageException($"{model} carries no normalisation, so --normalization-in-graph has nothing to put in the graph");
        }
        var options = new OnnxExportOptions
        {
            InputShape = loaded.InputShape,
            BatchSize = args.GetValue(_batch),
            Metadata = metadata,
            Opset = args.GetValue(_opset),
        };
        var proto = OnnxExport.Build(loaded.Module, options);
        OnnxExport.Save(proto, onnx);
        var ops = proto.Graph.Node.Select(n => n.OpType).Distinct().Order(StringComparer.Ordinal);
        string batch = options.BatchSize is int b ? $"batch {b}" : "dynamic batch";
        stdout.WriteLine($"wrote {onnx}: opset {options.Opset}, input [{(options.BatchSize?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "N")}, {string.Join(", ", options.InputShape)}] ({batch}), " +
            $"{proto.Graph.Node.Count} nodes ({string.Join(", ", ops)}); metadata: {Describe(metadata)}");
        return ExitCodes.Success;
    }

    private static string Describe(OnnxMetadata m)
    {
        var parts = new List<string>();
        parts.Add(m.ClassNames is null ? "no class names" : $"{m.ClassNames.Count} class names");
        parts.Add(m.HasNormalization
            ? $"normalisation mean [{string.Join(", ", m.Mean!)}] std [{string.Join(", ", m.Std!)}] {(m.NormalizationInGraph ? "also in the graph (input: pixels in [0, 1])" : "not in the graph (input: normalised pixels)")}"
            : "no normalisation");
        return string.Join("; ", parts);
    }

    /// <summary>What <c>train</c> writes by default (the ResNet), else the LeNet-style model.</summary>
    private static string DefaultModel()
    {
        string outDir = Path.Combine(RepoPaths.Root() ?? Directory.GetCurrentDirectory(), "out");
        string resnet = Path.Combine(outDir, "resnet.safetensors");
        return File.Exists(resnet) ? resnet : Path.Combine(outDir, "lenet.safetensors");
    }
}
