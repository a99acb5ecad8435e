using Google.Protobuf;
using Onnx;

namespace ConvGrad.Onnx;

/// <summary>
/// Loads an ONNX conv net (as <c>torch.onnx.export</c> writes them at operator sets 13 to 17, or as
/// <see cref="OnnxExport"/> does) into the library's modules: Conv (1-3-D, any stride, padding, dilation, groups),
/// ConvTranspose, BatchNormalization (inference form), Relu, MaxPool, AveragePool (with a zero Pad before it), GlobalAveragePool,
/// ReduceMean over the spatial axes, Flatten, Reshape (with its shape constant or computed by Shape/Gather/Unsqueeze/Concat),
/// Gemm, MatMul (+ Add of a bias), Add, Sum, Concat, Dropout, Identity and Constant. Constants and shape arithmetic
/// are evaluated while loading; each operation that computes becomes a node of a <see cref="Nn.Graph{T}"/>. An operator
/// outside this set is refused in one line naming it and its node; a file that is not ONNX (or is truncated) is refused
/// with an <see cref="InvalidDataException"/>.
/// </summary>
public static class OnnxImport
{
    /// <summary>Reads the ONNX file <paramref name="path"/>.</summary>
    /// <param name="path">The .onnx file.</param>
    /// <param name="options">Engine and threads for the modules' convolutions and linear layers.</param>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="InvalidDataException">The file is not an ONNX model, is truncated, or is inconsistent.</exception>
    /// <exception cref="NotSupportedException">The model uses an operator or a form the importer does not cover; the message names it and its node.</exception>
    public static OnnxModel Load(string path, ConvOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path}: no such file", path);
        }
        return Read(File.ReadAllBytes(path), path, options);
    }

    /// <summary>Reads an ONNX model from its bytes.</summary>
    /// <param name="bytes">The serialised <c>ModelProto</c>.</param>
    /// <param name="options">Engine and threads for the modules' convolutions and linear layers.</param>
    /// <exception cref="InvalidDataException">The bytes are not an ONNX model, are truncated, or are inconsistent.</exception>
    /// <exception cref="NotSupportedException">The model uses an operator or a form the importer does not cover; the message names it and its node.</exception>
    public static OnnxModel Read(byte[] bytes, ConvOptions? options = null) => Read(bytes, "ONNX model", options);

    private static OnnxModel Read(byte[] bytes, string what, ConvOptions? options)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{what}: not an ONNX model, or a truncated one ({e.Message.ReplaceLineEndings(" ").TrimEnd('.')})", e);
        }
        var opset = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx");
        if (model.IrVersion <= 0 || model.Graph is null || model.Graph.Node.Count == 0 || model.Graph.Output.Count == 0 || opset is null)
        {
            throw new InvalidDataException($"{what}: not an ONNX model (no IR version, graph, nodes, outputs or default-domain opset)");
        }
        var metadata = OnnxMetadata.ReadFrom(model.MetadataProps);
        var reader = new GraphReader(model.Graph, (int)opset.Version, options);
        var (graph, input, sample, batch, output, normalization) = reader.Read();
        if (normalization is { } n)
        {
            // The graph began by normalising its input; the module starts after that, so the metadata says how to normalise.
            metadata = metadata with { Mean = n.Mean, Std = n.Std, NormalizationInGraph = false };
        }
        string producer = $"{model.ProducerName} {model.ProducerVersion}".Trim();
        return new OnnxModel(graph, sample, batch, metadata, (int)opset.Version, producer, input, output);
    }
}
