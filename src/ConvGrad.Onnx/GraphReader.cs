using System.Globalization;
using System.Text;
using ConvGrad.Autograd;
using ConvGrad.Nn;
using Onnx;

namespace ConvGrad.Onnx;

/// <summary>
/// Translates one ONNX graph into a <see cref="Graph{T}"/>. Every ONNX value becomes one of: an activation (the output
/// of a module node, with a probe: its value for a zero input of batch 1, computed as the graph is built, which gives
/// every shape), a constant (initializers, Constant nodes, and what is computed from them), a shape vector (int64
/// entries, each a number or "the batch size", from Shape/Gather/Unsqueeze/Concat), or a zero padding waiting for the
/// convolution or average pooling that absorbs it.
/// </summary>
internal sealed class GraphReader
{
    /// <summary>The shape-vector entry that stands for the (dynamic) batch size.</summary>
    private const long Batch = long.MinValue;

    private readonly GraphProto _graph;
    private readonly int _opset;
    private readonly ConvOptions? _options;
    private readonly Dictionary<string, Value> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _uses = new(StringComparer.Ordinal);
    private readonly List<GraphNode<float>> _nodes = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal) { Graph<float>.InputName };
    private int? _batch;

    public GraphReader(GraphProto graph, int opset, ConvOptions? options)
    {
        _graph = graph;
        _opset = opset;
        _options = options;
    }

    private abstract record Value;

    /// <summary>An output of a module node (or the graph input, <see cref="Graph{T}.InputName"/>).</summary>
    private sealed record Activation(string Node, Variable<float> Probe) : Value
    {
        public int[] Shape => Probe.Shape.ToArray();
    }

    private sealed record Constant(ConstantTensor Tensor) : Value;

    /// <summary>An int64 vector of shape arithmetic; <c>Scalar</c> for a rank-0 one.</summary>
    private sealed record ShapeVector(long[] Entries, bool Scalar) : Value;

    /// <summary>A zero padding of <see cref="Source"/> (spatial befores and afters) that a Conv or AveragePool must absorb.</summary>
    private sealed record Padded(Activation Source, int[] Before, int[] After, string PadNode) : Value;

    public (Graph<float> Graph, string Input, int[] Sample, int? Batch, string Output, (double[] Mean, double[] Std)? Normalization) Read()
    {
        foreach (var t in _graph.Initializer)
        {
            _values[t.Name] = new Constant(ProtoTensors.Read(t, "initializer"));
        }
        var inputs = _graph.Input.Where(i => !_values.ContainsKey(i.Name)).ToList();
        if (inputs.Count != 1)
        {
            throw new NotSupportedException($"the graph has {inputs.Count} inputs ({string.Join(", ", inputs.Select(i => i.Name))}); the importer takes models with one image input");
        }
        var input = inputs[0];
        var (sample, batch) = InputShape(input);
        _batch = batch;
        using var noGrad = GradMode.NoGrad();
        _values[input.Name] = new Activation(Graph<float>.InputName, new Variable<float>(Tensor<float>.Zeros([1, .. sample])));
        foreach (var node in _graph.Node)
        {
            foreach (var name in node.Input.Where(n => n.Length > 0))
            {
                _uses[name] = _uses.GetValueOrDefault(name) + 1;
            }
        }
        var normalization = ReadNormalization(input.Name, sample.Length - 1);
        foreach (var node in _graph.Node)
        {
            if (_skipped.Contains(node))
            {
                continue;
            }
            if (node.Domain is not ("" or "ai.onnx"))
            {
                throw Unsupported(node, $"operator '{node.Domain}.{node.OpType}'");
            }
            Translate(node);
        }
        var outputName = _graph.Output[0].Name;
        if (!_values.TryGetValue(outputName, out var result))
        {
            throw new InvalidDataException($"the graph's output '{outputName}' is not computed by any node");
        }
        if (result is not Activation { Node: not Graph<float>.InputName } activation)
        {
            throw new NotSupportedException($"the graph's output '{outputName}' is {Describe(result)}, not a computed activation");
        }
        return (new Graph<float>(_nodes, activation.Node), input.Name, sample, batch, outputName, normalization);
    }

    private readonly HashSet<NodeProto> _skipped = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// A graph that starts with <c>(x − mean) / std</c> per channel (as <see cref="OnnxExport"/> writes when the
    /// normalisation is in the graph, or a PyTorch model that normalises first): those two nodes become metadata, and the
    /// module takes the normalised input.
    /// </summary>
    private (double[] Mean, double[] Std)? ReadNormalization(string input, int spatial)
    {
        var sub = _graph.Node.Where(n => n.Input.Contains(input)).ToList();
        if (sub.Count != 1 || sub[0].OpType != "Sub" || sub[0].Input.Count != 2 || sub[0].Input[0] != input || _uses.GetValueOrDefault(input) != 1)
        {
            return null;
        }
        var div = _graph.Node.Where(n => n.Input.Contains(sub[0].Output[0])).ToList();
        if (div.Count != 1 || div[0].OpType != "Div" || div[0].Input[0] != sub[0].Output[0] || _uses.GetValueOrDefault(sub[0].Output[0]) != 1)
        {
            return null;
        }
        var mean = PerChannel(sub[0].Input[1], spatial);
        var std = PerChannel(div[0].Input[1], spatial);
        if (mean is null || std is null || std.Any(s => !(s > 0)))
        {
            return null;
        }
        _skipped.Add(sub[0]);
        _skipped.Add(div[0]);
        _values[div[0].Output[0]] = _values[input];
        return (mean, std);
    }

    private double[]? PerChannel(string name, int spatial)
    {
        var input = (Activation)_values.Values.First(v => v is Activation { Node: Graph<float>.InputName });
        int channels = input.Shape[1];
        if (!_values.TryGetValue(name, out var v) && !TryConstantNode(name, out v))
        {
            return null;
        }
        if (v is not Constant { Tensor.Floats: { } f } c || f.Length != channels)
        {
            return null;
        }
        // [1, C, 1, ...], [C, 1, ...], [C] (or a scalar for one channel): one value per channel, broadcast over the rest.
        var shape = c.Tensor.Shape;
        int axis = shape.Length == spatial + 2 ? 1 : shape.Length == spatial + 1 || shape.Length == 1 ? 0 : -1;
        bool perChannel = (shape.Length == 0 && channels == 1) || (axis >= 0 && shape.Select((d, i) => d == (i == axis ? channels : 1)).All(ok => ok));
        return perChannel ? f.Select(x => (double)x).ToArray() : null;
    }

    private bool TryConstantNode(string name, out Value? value)
    {
        var node = _graph.Node.FirstOrDefault(n => n.OpType == "Constant" && n.Output.Contains(name));
        value = node is null ? null : ConstantOf(node);
        if (value is not null)
        {
            _values[name] = value;
        }
        return value is not null;
    }

    private (int[] Sample, int? Batch) InputShape(ValueInfoProto input)
    {
        var type = input.Type?.TensorType;
        if (type is null || type.ElemType != (int)TensorProto.Types.DataType.Float)
        {
            throw new NotSupportedException($"the graph's input '{input.Name}' is not a float32 tensor; the importer takes float32 images");
        }
        var dims = type.Shape?.Dim;
        if (dims is null || dims.Count is < 3 or > 5)
        {
            throw new NotSupportedException($"the graph's input '{input.Name}' has {(dims is null ? "no" : dims.Count.ToString(CultureInfo.InvariantCulture))} dimensions; the importer takes [N, C, spatial...] with 1-3 spatial axes");
        }
        int? batch = dims[0].ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && dims[0].DimValue > 0 ? (int)dims[0].DimValue : null;
        var sample = new int[dims.Count - 1];
        for (int i = 1; i < dims.Count; i++)
        {
            if (dims[i].ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue || dims[i].DimValue is < 1 or > int.MaxValue)
            {
                throw new NotSupportedException($"the graph's input '{input.Name}' has a dynamic or invalid dimension {i} ('{dims[i]}'); only the batch axis may be dynamic");
            }
            sample[i - 1] = (int)dims[i].DimValue;
        }
        return (sample, batch);
    }

    private void Translate(NodeProto node)
    {
        switch (node.OpType)
        {
            case "Constant":
                Set(node, ConstantOf(node) ?? throw Unsupported(node, "a Constant without a tensor, float(s) or int(s) value"));
                return;
            case "Identity":
            case "Cast" when In(node, 0) is ShapeVector or Constant { Tensor.Longs: not null }:
                Set(node, In(node, 0));
                return;
            case "Conv":
                Conv(node, transpose: false);
                return;
            case "ConvTranspose":
                Conv(node, transpose: true);
                return;
            case "BatchNormalization":
                BatchNorm(node);
                return;
            case "Relu":
                Emit(node, new ReLU<float>(), Act(node, 0));
                return;
            case "MaxPool":
            case "AveragePool":
                Pool(node);
                return;
            case "GlobalAveragePool":
                GlobalAveragePool(node, Act(node, 0), keepDims: true);
                return;
            case "ReduceMean":
                ReduceMean(node);
                return;
            case "Flatten":
                Flatten(node);
                return;
            case "Reshape":
                Reshape(node);
                return;
            case "Gemm":
                Gemm(node);
                return;
            case "MatMul":
                MatMul(node);
                return;
            case "Add" or "Sum":
                AddNode(node);
                return;
            case "Concat":
                ConcatNode(node);
                return;
            case "Dropout":
                DropoutNode(node);
                return;
            case "Pad":
                Pad(node);
                return;
            case "Shape":
                ShapeNode(node);
                return;
            case "Gather":
                Gather(node);
                return;
            case "Unsqueeze":
            case "Squeeze":
                Squeeze(node, node.OpType == "Unsqueeze");
                return;
            default:
                throw Unsupported(node, $"operator '{node.OpType}'");
        }
    }

    // ---------------------------------------------------------------- modules

    private void Conv(NodeProto node, bool transpose)
    {
        var (x, before, after) = PaddedInput(node);
        var w = Const(node, 1, "weight");
        var b = node.Input.Count > 2 && node.Input[2].Length > 0 ? Const(node, 2, "bias") : null;
        int dims = x.Shape.Length - 2;
        if (w.Shape.Length != dims + 2)
        {
            throw new InvalidDataException($"{Name(node)}: weight {w.ShapeText} does not fit the input {Shapes.Format(x.Shape)}");
        }
        int groups = (int)Int(node, "group", 1);
        var kernel = w.Shape[2..].Select(d => (int)d).ToArray();
        var stride = Ints(node, "strides") ?? Repeat(1, dims);
        var dilation = Ints(node, "dilations") ?? Repeat(1, dims);
        var pads = Ints(node, "pads") ?? Repeat(0, 2 * dims);
        if (stride.Length != dims || dilation.Length != dims || pads.Length != 2 * dims)
        {
            throw new InvalidDataException($"{Name(node)}: strides, dilations or pads do not have one entry per spatial axis ({dims})");
        }
        string autoPad = Str(node, "auto_pad", "NOTSET");
        if (autoPad is "SAME_UPPER" or "SAME_LOWER")
        {
            if (transpose)
            {
                throw Unsupported(node, "ConvTranspose with auto_pad SAME");
            }
            for (int a = 0; a < dims; a++)
            {
                int input = x.Shape[a + 2], output = (input + stride[a] - 1) / stride[a];
                int total = Math.Max(0, (output - 1) * stride[a] + dilation[a] * (kernel[a] - 1) + 1 - input);
                pads[a] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
                pads[a + dims] = total - pads[a];
            }
        }
        else if (autoPad == "VALID")
        {
            Array.Clear(pads);
        }
        for (int a = 0; a < dims; a++)
        {
            pads[a] += before[a];
            pads[a + dims] += after[a];
        }
        ConvGeometry geometry;
        Module<float> module;
        Parameter<float> weight;
        Parameter<float>? bias;
        if (!transpose)
        {
            geometry = new ConvGeometry(stride, pads[..dims], pads[dims..], dilation, groups);
            var conv = new ConvNd<float>((int)w.Shape[1] * groups, (int)w.Shape[0], kernel, geometry, new Random(0), b is not null, _options);
            (module, weight, bias) = (conv, conv.Weight, conv.Bias);
        }
        else
        {
            if (before.Any(p => p != 0) || after.Any(p => p != 0))
            {
                throw Unsupported(node, "a Pad before ConvTranspose");
            }
            if (node.Attribute.Any(a => a.Name == "output_shape"))
            {
                throw Unsupported(node, "ConvTranspose with output_shape (give pads and output_padding instead)");
            }
            var outputPadding = Ints(node, "output_padding") ?? Repeat(0, dims);
            geometry = new ConvGeometry(stride, pads[..dims], pads[dims..], dilation, groups, outputPadding);
            var conv = new ConvTransposeNd<float>((int)w.Shape[0], (int)w.Shape[1] * groups, kernel, geometry, new Random(0), b is not null, _options);
            (module, weight, bias) = (conv, conv.Weight, conv.Bias);
        }
        Fill(node, weight.Value, w, "weight");
        if (bias is not null)
        {
            Fill(node, bias.Value, b!, "bias");
        }
        Emit(node, module, x);
    }

    private void BatchNorm(NodeProto node)
    {
        var x = Act(node, 0);
        if (Int(node, "training_mode", 0) != 0 || node.Output.Skip(1).Any(o => o.Length > 0 && _uses.ContainsKey(o)))
        {
            throw Unsupported(node, "BatchNormalization in training mode");
        }
        if (x.Shape.Length != 4)
        {
            throw Unsupported(node, $"BatchNormalization of a rank-{x.Shape.Length} input (the library's batch norm takes [N, C, H, W])");
        }
        int channels = x.Shape[1];
        var bn = new BatchNorm2d<float>(channels, Float(node, "epsilon", 1e-5f));
        Fill(node, bn.Weight.Value, Const(node, 1, "scale"), "scale");
        Fill(node, bn.Bias.Value, Const(node, 2, "bias"), "bias");
        Fill(node, bn.RunningMean, Const(node, 3, "mean"), "mean");
        Fill(node, bn.RunningVar, Const(node, 4, "var"), "var");
        Emit(node, bn, x);
    }

    private void Pool(NodeProto node)
    {
        bool max = node.OpType == "MaxPool";
        var (x, before, after) = max ? (Act(node, 0), new int[2], new int[2]) : PaddedInput(node);
        if (x.Shape.Length != 4)
        {
            throw Unsupported(node, $"{node.OpType} of a rank-{x.Shape.Length} input (the library pools [N, C, H, W])");
        }
        var kernel = Ints(node, "kernel_shape") ?? throw new InvalidDataException($"{Name(node)}: no kernel_shape");
        var stride = Ints(node, "strides") ?? [1, 1];
        var pads = Ints(node, "pads") ?? [0, 0, 0, 0];
        if (Str(node, "auto_pad", "NOTSET") is not ("NOTSET" or "VALID") || Int(node, "ceil_mode", 0) != 0 ||
            (Ints(node, "dilations") ?? [1, 1]).Any(d => d != 1) || node.Output.Skip(1).Any(o => o.Length > 0))
        {
            throw Unsupported(node, $"{node.OpType} with auto_pad SAME, ceil_mode, dilations or indices");
        }
        if (!max && pads.Any(p => p != 0) && Int(node, "count_include_pad", 0) == 0)
        {
            throw Unsupported(node, "AveragePool with padding that is not counted (count_include_pad = 0)");
        }
        int[] all = [pads[0] + before[0], pads[1] + before[1], pads[2] + after[0], pads[3] + after[1]];
        if (kernel.Length != 2 || kernel[0] != kernel[1] || stride.Length != 2 || stride[0] != stride[1] || all.Distinct().Count() != 1 || 2 * all[0] > kernel[0])
        {
            throw Unsupported(node, $"{node.OpType} with kernel [{string.Join(", ", kernel)}], strides [{string.Join(", ", stride)}], pads [{string.Join(", ", all)}] (the library pools square windows with one stride and one padding of at most half the kernel)");
        }
        Emit(node, max ? new MaxPool2d<float>(kernel[0], stride[0], all[0]) : new AvgPool2d<float>(kernel[0], stride[0], all[0]), x);
    }

    private void GlobalAveragePool(NodeProto node, Activation x, bool keepDims)
    {
        if (x.Shape.Length != 4)
        {
            throw Unsupported(node, $"{node.OpType} of a rank-{x.Shape.Length} input (the library's global average pooling takes [N, C, H, W])");
        }
        if (keepDims)
        {
            Emit(node, new GlobalAvgPool2d<float>(), x);
        }
        else
        {
            var pooled = Append(node, "pool", new GlobalAvgPool2d<float>(), x);
            Emit(node, new Flatten<float>(), pooled);
        }
    }

    private void ReduceMean(NodeProto node)
    {
        var x = Act(node, 0);
        int rank = x.Shape.Length;
        var axes = Ints(node, "axes") ?? (node.Input.Count > 1 && node.Input[1].Length > 0 ? Longs(node, 1).Select(a => (int)a).ToArray() : null);
        var spatial = Enumerable.Range(2, rank - 2).ToArray();
        if (axes is null || !axes.Select(a => a < 0 ? a + rank : a).Order().SequenceEqual(spatial))
        {
            throw Unsupported(node, $"ReduceMean over axes [{(axes is null ? "all" : string.Join(", ", axes))}] (only the spatial axes, global average pooling, are supported)");
        }
        GlobalAveragePool(node, x, Int(node, "keepdims", 1) != 0);
    }

    private void Flatten(NodeProto node)
    {
        var x = Act(node, 0);
        long axis = Int(node, "axis", 1);
        if (axis < 0)
        {
            axis += x.Shape.Length;
        }
        if (axis != 1)
        {
            throw Unsupported(node, $"Flatten at axis {Int(node, "axis", 1)} (only axis 1, which keeps the batch, is supported)");
        }
        Emit(node, new Flatten<float>(), x);
    }

    private void Reshape(NodeProto node)
    {
        var data = In(node, 0);
        var target = In(node, 1) switch
        {
            ShapeVector s => s.Entries,
            Constant { Tensor.Longs: { } l } => l,
            var other => throw Unsupported(node, $"Reshape to {Describe(other)}"),
        };
        if (data is Constant c)
        {
            Set(node, new Constant(ReshapeConstant(node, c.Tensor, target)));
            return;
        }
        var x = Act(node, 0);
        bool allowZero = Int(node, "allowzero", 0) != 0;
        var shape = x.Shape;
        bool batchFirst = target.Length > 0 && (target[0] == Batch || (target[0] == 0 && !allowZero) || (_batch is int b && target[0] == b) ||
            (target[0] == -1 && target.Skip(1).All(d => d > 0) && target.Skip(1).Aggregate(1L, (p, d) => p * d) == Shapes.Product(shape.AsSpan(1))));
        if (!batchFirst)
        {
            throw Unsupported(node, $"Reshape to [{Format(target)}], which does not keep the batch axis first");
        }
        var sample = new int[target.Length - 1];
        for (int i = 1; i < target.Length; i++)
        {
            long d = target[i];
            sample[i - 1] = d switch
            {
                0 when !allowZero && i < shape.Length => shape[i],
                -1 => -1,
                > 0 and <= int.MaxValue => (int)d,
                _ => throw Unsupported(node, $"Reshape to [{Format(target)}] (entry {i} is {(d == Batch ? "the batch size" : d)})"),
            };
        }
        Emit(node, new Reshape<float>(sample), x);
    }

    private void Gemm(NodeProto node)
    {
        var x = Act(node, 0);
        var b = Const(node, 1, "B");
        var c = node.Input.Count > 2 && node.Input[2].Length > 0 ? Const(node, 2, "C") : null;
        if (Int(node, "transA", 0) != 0 || x.Shape.Length != 2 || b.Shape.Length != 2)
        {
            throw Unsupported(node, "Gemm with transA or an input that is not [N, features]");
        }
        bool transB = Int(node, "transB", 0) != 0;
        float alpha = Float(node, "alpha", 1), beta = Float(node, "beta", 1);
        LinearNode(node, x, b, transB, alpha, c, beta);
    }

    private void MatMul(NodeProto node)
    {
        var x = Act(node, 0);
        var b = Const(node, 1, "B");
        if (x.Shape.Length != 2 || b.Shape.Length != 2)
        {
            throw Unsupported(node, "MatMul of an input that is not [N, features] by a constant matrix");
        }
        LinearNode(node, x, b, transB: false, 1, null, 1);
    }

    private void LinearNode(NodeProto node, Activation x, ConstantTensor b, bool transB, float alpha, ConstantTensor? c, float beta)
    {
        int inF = (int)(transB ? b.Shape[1] : b.Shape[0]), outF = (int)(transB ? b.Shape[0] : b.Shape[1]);
        if (inF != x.Shape[1])
        {
            throw new InvalidDataException($"{Name(node)}: the weight {b.ShapeText} does not fit the input {Shapes.Format(x.Shape)}");
        }
        var linear = new Linear<float>(inF, outF, new Random(0), c is not null, _options);
        var w = linear.Weight.Value.Span;
        var bv = Floats(node, b, "weight");
        for (int o = 0; o < outF; o++)
        {
            for (int i = 0; i < inF; i++)
            {
                w[o * inF + i] = alpha * (transB ? bv[o * inF + i] : bv[i * outF + o]);
            }
        }
        if (c is not null)
        {
            SetBias(node, linear, c, beta);
        }
        Emit(node, linear, x);
    }

    private void SetBias(NodeProto node, Linear<float> linear, ConstantTensor c, float scale)
    {
        int outF = linear.Weight.Value.Dim(0);
        var cv = Floats(node, c, "bias");
        if (cv.Length != 1 && (cv.Length != outF || c.Shape.Count(d => d != 1) > 1))
        {
            throw Unsupported(node, $"a bias of shape {c.ShapeText} for {outF} outputs");
        }
        var bias = linear.Bias!.Value.Span;
        for (int o = 0; o < outF; o++)
        {
            bias[o] = scale * cv[cv.Length == 1 ? 0 : o];
        }
    }

    private void AddNode(NodeProto node)
    {
        var operands = node.Input.Select(n => Lookup(node, n)).ToList();
        if (operands.All(o => o is Activation))
        {
            var acts = operands.Cast<Activation>().ToList();
            Emit(node, new Add<float>(), [.. acts]);
            return;
        }
        if (node.OpType == "Add" && operands.Count == 2 && operands.Any(o => o is ShapeVector) && operands.All(o => o is ShapeVector or Constant { Tensor.Longs: not null }))
        {
            Set(node, Arithmetic(node, operands[0], operands[1], (a, b) => a + b));
            return;
        }
        // A constant added to the output of a MatMul that nothing else reads: the bias of that linear layer.
        int act = operands.FindIndex(o => o is Activation);
        if (operands.Count == 2 && act >= 0 && operands[1 - act] is Constant bias && operands[act] is Activation a &&
            _nodes.Count > 0 && _nodes[^1].Name == a.Node && _nodes[^1].Module is Linear<float> { Bias: null } linear && _uses.GetValueOrDefault(node.Input[act]) == 1)
        {
            var withBias = new Linear<float>(linear.Weight.Value.Dim(1), linear.Weight.Value.Dim(0), new Random(0), bias: true, _options);
            linear.Weight.Value.ReadOnlySpan.CopyTo(withBias.Weight.Value.Span);
            SetBias(node, withBias, bias.Tensor, 1);
            var previous = _nodes[^1];
            _nodes[^1] = previous with { Module = withBias };
            using (GradMode.NoGrad())
            {
                var input = previous.Inputs[0] == Graph<float>.InputName ? FindActivation(Graph<float>.InputName) : FindActivation(previous.Inputs[0]);
                Set(node, new Activation(previous.Name, withBias.Forward(input.Probe)));
            }
            return;
        }
        throw Unsupported(node, $"{node.OpType} of {string.Join(" and ", operands.Select(Describe))} (only activations of equal shape, or a bias after MatMul)");
    }

    private void ConcatNode(NodeProto node)
    {
        var operands = node.Input.Select(n => Lookup(node, n)).ToList();
        long axis = Int(node, "axis", 0);
        if (operands.All(o => o is Activation))
        {
            var acts = operands.Cast<Activation>().ToList();
            if ((axis < 0 ? axis + acts[0].Shape.Length : axis) != 1)
            {
                throw Unsupported(node, $"Concat along axis {axis} (only the channel axis 1 is supported)");
            }
            Emit(node, new Concat<float>(), [.. acts]);
            return;
        }
        if (operands.All(o => o is ShapeVector or Constant { Tensor.Longs: not null }))
        {
            var entries = new List<long>();
            foreach (var o in operands)
            {
                entries.AddRange(o is ShapeVector s ? s.Entries : ((Constant)o).Tensor.Longs!);
            }
            Set(node, new ShapeVector([.. entries], Scalar: false));
            return;
        }
        throw Unsupported(node, $"Concat of {string.Join(" and ", operands.Select(Describe))}");
    }

    private void DropoutNode(NodeProto node)
    {
        var x = Act(node, 0);
        if (node.Output.Skip(1).Any(o => o.Length > 0 && _uses.ContainsKey(o)))
        {
            throw Unsupported(node, "Dropout whose mask is used");
        }
        if (node.Input.Count > 2 && node.Input[2].Length > 0 && Longs(node, 2).Any(v => v != 0))
        {
            throw Unsupported(node, "Dropout in training mode");
        }
        double ratio = node.Input.Count > 1 && node.Input[1].Length > 0 ? Floats(node, Const(node, 1, "ratio"), "ratio")[0] : Float(node, "ratio", 0.5f);
        if (!(ratio >= 0 && ratio < 1))
        {
            throw Unsupported(node, $"Dropout ratio {ratio}");
        }
        Emit(node, new Dropout<float>(ratio, new Random(0)), x);
    }

    // ---------------------------------------------------------------- padding and shape arithmetic

    private void Pad(NodeProto node)
    {
        var x = Act(node, 0);
        string mode = Str(node, "mode", "constant");
        var pads = node.Input.Count > 1 && node.Input[1].Length > 0 ? Longs(node, 1) : (Ints(node, "pads") ?? []).Select(p => (long)p).ToArray();
        float value = node.Input.Count > 2 && node.Input[2].Length > 0 ? Floats(node, Const(node, 2, "constant_value"), "constant_value").FirstOrDefault() : Float(node, "value", 0);
        int rank = x.Shape.Length;
        if (mode != "constant" || value != 0 || (node.Input.Count > 3 && node.Input[3].Length > 0) || pads.Length != 2 * rank ||
            pads[0] != 0 || pads[1] != 0 || pads[rank] != 0 || pads[rank + 1] != 0 || pads.Any(p => p < 0))
        {
            throw Unsupported(node, $"Pad in mode {mode} with value {value} and pads [{Format(pads)}] (only zero padding of the spatial axes, absorbed by the next Conv or AveragePool)");
        }
        Set(node, new Padded(x, pads[2..rank].Select(p => (int)p).ToArray(), pads[(rank + 2)..].Select(p => (int)p).ToArray(), Name(node)));
    }

    private void ShapeNode(NodeProto node)
    {
        var v = In(node, 0);
        long[] shape = v switch
        {
            Activation a => [Batch, .. a.Shape[1..].Select(d => (long)d)],
            Constant c => c.Tensor.Shape,
            _ => throw Unsupported(node, $"Shape of {Describe(v)}"),
        };
        int rank = shape.Length;
        long start = Int(node, "start", 0), end = Int(node, "end", rank);
        start = Math.Clamp(start < 0 ? start + rank : start, 0, rank);
        end = Math.Clamp(end < 0 ? end + rank : end, 0, rank);
        Set(node, new ShapeVector(shape[(int)start..(int)Math.Max(start, end)], Scalar: false));
    }

    private void Gather(NodeProto node)
    {
        var data = In(node, 0) switch
        {
            ShapeVector s => s.Entries,
            Constant { Tensor.Longs: { } l, Tensor.Shape.Length: 1 } => l,
            var other => throw Unsupported(node, $"Gather from {Describe(other)} (only shape arithmetic is supported)"),
        };
        var indices = Const(node, 1, "indices");
        if (Int(node, "axis", 0) != 0 || indices.Longs is null || indices.Shape.Length > 1)
        {
            throw Unsupported(node, "Gather other than picking entries of a shape");
        }
        var picked = indices.Longs.Select(i => data[(int)(i < 0 ? i + data.Length : i)]).ToArray();
        Set(node, new ShapeVector(picked, Scalar: indices.Shape.Length == 0));
    }

    private void Squeeze(NodeProto node, bool unsqueeze)
    {
        var v = In(node, 0);
        if (v is ShapeVector s)
        {
            // Shape arithmetic: a rank-0 entry and a one-entry vector hold the same numbers.
            Set(node, s with { Scalar = !unsqueeze && s.Entries.Length == 1 });
            return;
        }
        if (v is Constant c)
        {
            var axes = (_opset >= 13 && node.Input.Count > 1 && node.Input[1].Length > 0 ? Longs(node, 1) : (Ints(node, "axes") ?? []).Select(a => (long)a).ToArray()).ToList();
            var shape = c.Tensor.Shape.ToList();
            if (unsqueeze)
            {
                foreach (var a in axes.Select(a => a < 0 ? a + shape.Count + axes.Count : a).Order())
                {
                    shape.Insert((int)a, 1);
                }
            }
            else
            {
                shape = axes.Count == 0 ? shape.Where(d => d != 1).ToList() : shape.Where((_, i) => !axes.Contains(i) && !axes.Contains(i - shape.Count)).ToList();
            }
            Set(node, new Constant(c.Tensor with { Shape = [.. shape] }));
            return;
        }
        throw Unsupported(node, $"{node.OpType} of {Describe(v)} (only constants and shape arithmetic)");
    }

    private ShapeVector Arithmetic(NodeProto node, Value a, Value b, Func<long, long, long> op)
    {
        long[] A(Value v) => v is ShapeVector s ? s.Entries : ((Constant)v).Tensor.Longs!;
        var x = A(a);
        var y = A(b);
        int n = Math.Max(x.Length, y.Length);
        var r = new long[n];
        for (int i = 0; i < n; i++)
        {
            long p = x[x.Length == 1 ? 0 : i], q = y[y.Length == 1 ? 0 : i];
            if (p == Batch || q == Batch)
            {
                throw Unsupported(node, "arithmetic on the batch size");
            }
            r[i] = op(p, q);
        }
        return new ShapeVector(r, a is ShapeVector { Scalar: true } && (b is ShapeVector { Scalar: true } || b is Constant { Tensor.Shape.Length: 0 }));
    }

    private static ConstantTensor ReshapeConstant(NodeProto node, ConstantTensor c, long[] target)
    {
        var shape = target.Select((d, i) => d == 0 ? c.Shape[i] : d).ToArray();
        int free = Array.IndexOf(shape, -1L);
        if (free >= 0)
        {
            long known = shape.Where(d => d != -1).Aggregate(1L, (p, d) => p * d);
            shape[free] = known == 0 ? 0 : c.Count / known;
        }
        if (shape.Any(d => d < 0 || d == Batch) || shape.Aggregate(1L, (p, d) => p * d) != c.Count)
        {
            throw Unsupported(node, $"Reshape of a constant {c.ShapeText} to [{Format(target)}]");
        }
        return c with { Shape = shape };
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>Adds a module node reading <paramref name="inputs"/> and names the node's output after it.</summary>
    private void Emit(NodeProto node, Module<float> module, params Activation[] inputs) =>
        Set(node, Append(node, null, module, inputs));

    private Activation Append(NodeProto node, string? suffix, Module<float> module, params Activation[] inputs)
    {
        string name = UniqueName(suffix is null ? Name(node) : Name(node) + "_" + suffix);
        module.Eval();
        _nodes.Add(new GraphNode<float>(name, module, inputs.Select(i => i.Node).ToArray()));
        Variable<float> probe;
        try
        {
            probe = module is MergeModule<float> merge ? merge.Forward(inputs.Select(i => i.Probe).ToArray()) : module.Forward(inputs[0].Probe);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{Name(node)} ({node.OpType}): {e.Message}", e);
        }
        return new Activation(name, probe);
    }

    private void Set(NodeProto node, Value value)
    {
        if (node.Output.Count == 0)
        {
            throw new InvalidDataException($"{Name(node)} ({node.OpType}) has no output");
        }
        _values[node.Output[0]] = value;
    }

    private Activation FindActivation(string node) =>
        _values.Values.OfType<Activation>().First(a => a.Node == node);

    private Value In(NodeProto node, int i) =>
        i < node.Input.Count && node.Input[i].Length > 0 ? Lookup(node, node.Input[i]) : throw new InvalidDataException($"{Name(node)} ({node.OpType}) lacks input {i}");

    private Value Lookup(NodeProto node, string name) =>
        _values.TryGetValue(name, out var v) ? v : throw new InvalidDataException($"{Name(node)} ({node.OpType}) reads '{name}', which no earlier node or initializer defines (the nodes must be in topological order)");

    private Activation Act(NodeProto node, int i) => In(node, i) switch
    {
        Activation a => a,
        Padded p => throw Unsupported(node, $"{node.OpType} after the zero padding of {p.PadNode} (only Conv and AveragePool absorb a Pad)"),
        var other => throw Unsupported(node, $"{node.OpType} of {Describe(other)}"),
    };

    private (Activation X, int[] Before, int[] After) PaddedInput(NodeProto node)
    {
        if (In(node, 0) is Padded p)
        {
            return (p.Source, p.Before, p.After);
        }
        var x = Act(node, 0);
        var zeros = new int[x.Shape.Length - 2];
        return (x, zeros, zeros);
    }

    private ConstantTensor Const(NodeProto node, int i, string what) => In(node, i) switch
    {
        Constant c => c.Tensor,
        ShapeVector { Entries: var e } s when !e.Contains(Batch) => s.Scalar ? ConstantTensor.Of(e) : ConstantTensor.Of(e, e.Length),
        var other => throw Unsupported(node, $"a {what} that is {Describe(other)} (it must be a constant)"),
    };

    private long[] Longs(NodeProto node, int i) => Const(node, i, "shape") is { Longs: { } l } ? l : throw Unsupported(node, $"input {i} of {node.OpType} is not an integer constant");

    private static float[] Floats(NodeProto node, ConstantTensor c, string what) =>
        c.Floats ?? throw Unsupported(node, $"an integer {what}");

    private static void Fill(NodeProto node, Tensor<float> into, ConstantTensor from, string what)
    {
        var values = Floats(node, from, what);
        if (values.Length != into.Length || (from.Shape.Length != into.Rank && !(into.Rank == 1 && from.Shape.Count(d => d != 1) <= 1)))
        {
            throw new InvalidDataException($"{Name(node)} ({node.OpType}): the {what} is {from.ShapeText}; the layer needs {Shapes.Format(into.Shape)}");
        }
        values.CopyTo(into.Span);
    }

    private static ConstantTensor? ConstOfAttribute(AttributeProto a) => a.Name switch
    {
        "value" => ProtoTensors.Read(a.T, "Constant"),
        "value_float" => ConstantTensor.Of(new[] { a.F }),
        "value_floats" => ConstantTensor.Of(a.Floats.ToArray(), a.Floats.Count),
        "value_int" => ConstantTensor.Of(new[] { a.I }),
        "value_ints" => ConstantTensor.Of(a.Ints.ToArray(), a.Ints.Count),
        _ => null,
    };

    private static Constant? ConstantOf(NodeProto node) =>
        node.Attribute.Select(ConstOfAttribute).FirstOrDefault(c => c is not null) is { } c ? new Constant(c) : null;

    private static AttributeProto? Attr(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);

    private static long Int(NodeProto node, string name, long fallback) => Attr(node, name) is { } a ? a.I : fallback;

    private static float Float(NodeProto node, string name, float fallback) => Attr(node, name) is { } a ? a.F : fallback;

    private static string Str(NodeProto node, string name, string fallback) => Attr(node, name) is { } a ? a.S.ToStringUtf8() : fallback;

    private static int[]? Ints(NodeProto node, string name) => Attr(node, name) is { } a ? a.Ints.Select(v => checked((int)v)).ToArray() : null;

    private static int[] Repeat(int value, int count) => Enumerable.Repeat(value, count).ToArray();

    private static string Name(NodeProto node) => node.Name.Length > 0 ? node.Name : $"{node.OpType} -> {string.Join(", ", node.Output)}";

    private static string Format(IEnumerable<long> v) => string.Join(", ", v.Select(d => d == Batch ? "batch" : d.ToString(CultureInfo.InvariantCulture)));

    private static string Describe(Value v) => v switch
    {
        Activation a => $"an activation {Shapes.Format(a.Shape)}",
        Constant c => $"a constant {c.Tensor.ShapeText}",
        ShapeVector s => $"the shape values [{Format(s.Entries)}]",
        Padded p => $"the zero padding of {p.PadNode}",
        _ => v.GetType().Name,
    };

    private static NotSupportedException Unsupported(NodeProto node, string what) =>
        new($"ONNX import does not support {what} (node '{Name(node)}')");

    /// <summary>A graph-node name from the ONNX node's name: letters, digits and underscores, unique.</summary>
    private string UniqueName(string onnxName)
    {
        var sb = new StringBuilder();
        foreach (char ch in onnxName)
        {
            sb.Append(char.IsAsciiLetterOrDigit(ch) ? ch : '_');
        }
        string stem = sb.ToString().Trim('_');
        while (stem.Contains("__", StringComparison.Ordinal))
        {
            stem = stem.Replace("__", "_", StringComparison.Ordinal);
        }
        if (stem.Length == 0)
        {
            stem = "node";
        }
        string name = stem;
        for (int i = 1; !_names.Add(name); i++)
        {
            name = stem + "_" + i.ToString(CultureInfo.InvariantCulture);
        }
        return name;
    }
}
