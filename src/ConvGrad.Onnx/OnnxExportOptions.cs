namespace ConvGrad.Onnx;

/// <summary>How <see cref="OnnxExport"/> writes a model.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>The shape of one input sample, without the batch axis: <c>[C, H, W]</c> (or <c>[C, L]</c>, <c>[C, D, H, W]</c>).</summary>
    public required IReadOnlyList<int> InputShape { get; init; }

    /// <summary>A fixed batch size for the graph's input, or null (the default) for a dynamic batch axis named <see cref="BatchAxisName"/>.</summary>
    public int? BatchSize { get; init; }

    /// <summary>The name of the dynamic batch dimension (<c>dim_param</c>).</summary>
    public string BatchAxisName { get; init; } = "batch";

    /// <summary>The name of the graph's input.</summary>
    public string InputName { get; init; } = "input";

    /// <summary>The name of the graph's output.</summary>
    public string OutputName { get; init; } = "logits";

    /// <summary>Class names and normalisation written into <c>metadata_props</c>; with <see cref="OnnxMetadata.NormalizationInGraph"/> the graph also normalises its input.</summary>
    public OnnxMetadata Metadata { get; init; } = OnnxMetadata.None;

    /// <summary>The ONNX operator set the graph is written for (13 to 17; the default 17).</summary>
    public int Opset { get; init; } = 17;
}
