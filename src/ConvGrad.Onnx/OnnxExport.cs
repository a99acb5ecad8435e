using System.Reflection;
using ConvGrad.Autograd;
using ConvGrad.Nn;
using Google.Protobuf;
using Onnx;

namespace ConvGrad.Onnx;

/// <summary>
/// Writes a float model to ONNX. The model may be any <see cref="Module{T}"/> whose <c>Forward</c> is built from the
/// library's modules and <see cref="Functional"/> operations — convolution (1-3-D, any stride, asymmetric padding,
/// dilation, groups), transposed convolution, batch norm, ReLU, max/average/global-average pooling, add, subtract,
/// multiply, concatenation, flatten, reshape, linear and dropout — in any arrangement (branches, residual sums), as
/// <c>torch.onnx.export</c> does: the forward pass runs once in evaluation mode on a zero input while every operation is
/// recorded, and the recorded operations become the graph, with the parameters and running statistics as initializers
/// under their state-dict names. An operation the exporter cannot write (a user-defined op, a loss) is refused, naming it.
/// </summary>
public static class OnnxExport
{
    /// <summary>The ONNX IR version written (IR 8 goes with operator sets 13 to 17).</summary>
    private const long IrVersion = 8;

    /// <summary>Writes <paramref name="model"/> to the file <paramref name="path"/> (replacing it).</summary>
    /// <param name="model">The model; its training mode is restored afterwards.</param>
    /// <param name="path">The .onnx file to write.</param>
    /// <param name="options">The input shape, batch, names and metadata.</param>
    /// <exception cref="ArgumentException">The options do not fit the model.</exception>
    /// <exception cref="NotSupportedException">The model runs an operation ONNX export does not cover.</exception>
    public static void Save(Module<float> model, string path, OnnxExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(path);
        var bytes = ToBytes(model, options);
        string tmp = path + ".tmp" + Environment.ProcessId;
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>The ONNX file's bytes for <paramref name="model"/>.</summary>
    /// <param name="model">The model; its training mode is restored afterwards.</param>
    /// <param name="options">The input shape, batch, names and metadata.</param>
    /// <exception cref="ArgumentException">The options do not fit the model.</exception>
    /// <exception cref="NotSupportedException">The model runs an operation ONNX export does not cover.</exception>
    public static byte[] ToBytes(Module<float> model, OnnxExportOptions options) => Build(model, options).ToByteArray();

    /// <summary>The ONNX model for <paramref name="model"/>.</summary>
    internal static ModelProto Build(Module<float> model, OnnxExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        var sample = options.InputShape?.ToArray() ?? throw new ArgumentException("InputShape is required", nameof(options));
        if (sample.Length is < 2 or > 4 || sample.Any(d => d < 1))
        {
            throw new ArgumentException($"InputShape is one sample's [C, spatial...] with 1-3 spatial axes, each >= 1; got [{string.Join(", ", sample)}]", nameof(options));
        }
        if (options.BatchSize is < 1)
        {
            throw new ArgumentException($"BatchSize must be >= 1 or null (dynamic); got {options.BatchSize}", nameof(options));
        }
        if (options.Opset is < 13 or > 17)
        {
            throw new ArgumentException($"Opset must be 13 to 17; got {options.Opset}", nameof(options));
        }
        var metadata = options.Metadata ?? OnnxMetadata.None;
        metadata.Validate(sample[0]);

        // Trace one forward pass in evaluation mode. A dynamic batch is traced with 3 samples (not 1, so a batch axis
        // can be told from a size-1 axis). With gradients on (the default), an op the trace does not know shows as an
        // autograd node on its output, which the refusal names.
        bool wasTraining = model.Training;
        int batch = options.BatchSize ?? 3;
        model.Eval();
        Variable<float> input, output;
        IReadOnlyList<TracedOp> ops;
        try
        {
            input = new Variable<float>(Tensor<float>.Zeros([batch, .. sample]));
            using var trace = OpTrace.Begin();
            output = model.Forward(input);
            ops = trace.Ops;
        }
        finally
        {
            model.SetTraining(wasTraining);
        }

        var writer = new GraphWriter(model, options, batch, GradMode.IsEnabled);
        var graph = writer.Write(input, output, ops, metadata);
        var proto = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "ConvGrad",
            ProducerVersion = typeof(OnnxExport).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "",
            Graph = graph,
            DocString = "Exported by ConvGrad (ConvGrad.Onnx.OnnxExport).",
        };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = options.Opset });
        metadata.WriteTo(proto.MetadataProps);
        return proto;
    }
}
