using ConvGrad.Data;
using ConvGrad.Nn;
using ConvGrad.Training;

namespace ConvGrad.Onnx;

/// <summary>
/// An ONNX model loaded into the library's modules (<see cref="OnnxImport"/>): a <see cref="Graph{T}"/> that trains,
/// predicts and exports again like any module, with what the file says about its input and its classes.
/// </summary>
public sealed class OnnxModel
{
    internal OnnxModel(Graph<float> module, int[] inputShape, int? batchSize, OnnxMetadata metadata, int opset, string producer, string inputName, string outputName)
    {
        Module = module;
        InputShape = inputShape;
        BatchSize = batchSize;
        Metadata = metadata;
        Opset = opset;
        Producer = producer;
        InputName = inputName;
        OutputName = outputName;
    }

    /// <summary>The network: one node per ONNX operation that computes (shape arithmetic and constants are folded away).</summary>
    public Graph<float> Module { get; }

    /// <summary>The shape of one input sample without the batch axis, <c>[C, H, W]</c> (from the graph's input).</summary>
    public IReadOnlyList<int> InputShape { get; }

    /// <summary>The batch size the graph fixes, or null when its batch axis is dynamic.</summary>
    public int? BatchSize { get; }

    /// <summary>Class names and normalisation from the file's <c>metadata_props</c> (each null when the file has none).</summary>
    public OnnxMetadata Metadata { get; }

    /// <summary>The default-domain operator set the file was written for.</summary>
    public int Opset { get; }

    /// <summary>The program that wrote the file and its version (<c>producer_name</c>, <c>producer_version</c>).</summary>
    public string Producer { get; }

    /// <summary>The name of the graph's input.</summary>
    public string InputName { get; }

    /// <summary>The name of the graph's output.</summary>
    public string OutputName { get; }

    /// <summary>
    /// This model as the start of a fine-tuning run (<see cref="TrainingRun"/>, <c>convgrad train --init-from</c>): its
    /// graph is trained as it is, with the class names and normalisation of its metadata when it has them.
    /// </summary>
    /// <param name="source">The file it was read from.</param>
    /// <exception cref="NotSupportedException">The input is not one image, <c>[C, H, W]</c>.</exception>
    /// <exception cref="ArgumentException">The graph does not give one score per class, or its metadata does not fit it.</exception>
    public InitialModel ToInitialModel(string source)
    {
        if (InputShape is not [int c, int h, int w])
        {
            throw new NotSupportedException($"{source}: the model takes [N, {string.Join(", ", InputShape)}]; training takes images, [N, C, H, W]");
        }
        var normalization = Metadata.HasNormalization ? new Normalization(Metadata.Mean!, Metadata.Std!) : null;
        return InitialModel.FromModule(Module, source, new ImageShape(c, h, w), Metadata.ClassNames, normalization);
    }

    /// <summary>Options that export <see cref="Module"/> again with this file's input shape, batch, names and metadata.</summary>
    public OnnxExportOptions ExportOptions => new()
    {
        InputShape = InputShape,
        BatchSize = BatchSize,
        InputName = InputName,
        OutputName = OutputName,
        Metadata = Metadata,
    };
}
