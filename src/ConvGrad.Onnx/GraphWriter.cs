using System.Globalization;
using ConvGrad.Autograd;
using ConvGrad.Cpu.Pooling;
using ConvGrad.Nn;
using Onnx;

namespace ConvGrad.Onnx;

/// <summary>
/// Translates the operations of one traced forward pass (<see cref="OpTrace"/>) into an ONNX graph. Values are named by
/// the variables that carry them; parameters and buffers become initializers under their state-dict names; operations
/// whose output nothing reads (the inner steps of a composite op) are dropped at the end.
/// </summary>
internal sealed class GraphWriter
{
    private readonly OnnxExportOptions _options;
    private readonly int _batch;
    private readonly bool _gradWasOn;
    private readonly Dictionary<object, string> _values = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<object, string> _stateNames = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private readonly HashSet<string> _initializerNames = new(StringComparer.Ordinal);
    private readonly GraphProto _graph = new() { Name = "convgrad" };
    private int _constants;

    public GraphWriter(Module<float> model, OnnxExportOptions options, int batch, bool gradWasOn)
    {
        _options = options;
        _batch = batch;
        _gradWasOn = gradWasOn;
        foreach (var (name, p) in model.NamedParameters())
        {
            _stateNames.TryAdd(p, name);
        }
        foreach (var (name, b) in model.NamedBuffers())
        {
            _stateNames.TryAdd(b, name);
        }
        if (options.InputName == options.OutputName || string.IsNullOrEmpty(options.InputName) || string.IsNullOrEmpty(options.OutputName))
        {
            throw new ArgumentException($"the input and output need two different non-empty names; got '{options.InputName}' and '{options.OutputName}'", nameof(options));
        }
        _used.Add(options.InputName);
        _used.Add(options.OutputName);
    }

    public GraphProto Write(Variable<float> input, Variable<float> output, IReadOnlyList<TracedOp> ops, OnnxMetadata metadata)
    {
        var sample = _options.InputShape.ToArray();
        _graph.Input.Add(ValueInfo(_options.InputName, sample));
        _values[input] = metadata.NormalizationInGraph ? Normalize(_options.InputName, metadata, sample.Length - 1) : _options.InputName;
        foreach (var op in ops)
        {
            Emit(op);
        }
        string result = Resolve(output);
        if (result == _options.InputName)
        {
            // A model that returns its input: ONNX needs a node to name the output.
            Node("Identity", Unique("Identity"), [result]);
            result = _graph.Node[^1].Output[0];
        }
        Rename(result, _options.OutputName);
        _graph.Output.Add(ValueInfo(_options.OutputName, output.Shape[1..].ToArray()));
        Prune();
        return _graph;
    }

    /// <summary>The graph's own normalisation of [0, 1] pixels: <c>(x − mean) / std</c> per channel.</summary>
    private string Normalize(string input, OnnxMetadata m, int spatial)
    {
        int[] shape = [1, m.Mean!.Count, .. Enumerable.Repeat(1, spatial)];
        string mean = Initializer("normalization.mean", m.Mean.Select(v => (float)v).ToArray(), shape);
        string std = Initializer("normalization.std", m.Std!.Select(v => (float)v).ToArray(), shape);
        string centred = Node("Sub", "normalization.sub", [input, mean]);
        return Node("Div", "normalization.div", [centred, std]);
    }

    private void Emit(TracedOp op)
    {
        var inputs = op.Inputs;
        switch (op.Kind)
        {
            case TracedOpKind.Layout:
                Bind(op.Output, Resolve(inputs[0]!));
                return;
            case TracedOpKind.Conv:
            case TracedOpKind.ConvTranspose:
                EmitConv(op, (ConvGeometry)op.Attributes!);
                return;
            case TracedOpKind.BatchNorm:
                EmitBatchNorm(op, (TracedBatchNorm<float>)op.Attributes!);
                return;
            case TracedOpKind.Linear:
            {
                var node = NewNode("Gemm", NameFromWeight(inputs[1]!, "Gemm"), Present(inputs));
                node.Attribute.Add(Int("transB", 1));
                Bind(op.Output, node);
                return;
            }
            case TracedOpKind.Relu:
                Bind(op.Output, NewNode("Relu", Unique("Relu"), Present(inputs)));
                return;
            case TracedOpKind.Add:
            case TracedOpKind.Sub:
            case TracedOpKind.Mul:
            {
                string type = op.Kind.ToString();
                Bind(op.Output, NewNode(type, Unique(type), Present(inputs)));
                return;
            }
            case TracedOpKind.Dropout:
            {
                string name = Unique("Dropout");
                string ratio = Initializer(name + ".ratio", [(float)(double)op.Attributes!], []);
                Bind(op.Output, NewNode("Dropout", name, [Resolve(inputs[0]!), ratio]));
                return;
            }
            case TracedOpKind.MaxPool:
            case TracedOpKind.AvgPool:
            {
                var w = (PoolWindow)op.Attributes!;
                bool max = op.Kind == TracedOpKind.MaxPool;
                var node = NewNode(max ? "MaxPool" : "AveragePool", Unique(max ? "MaxPool" : "AveragePool"), Present(inputs));
                node.Attribute.Add(Ints("kernel_shape", w.Kernel, w.Kernel));
                node.Attribute.Add(Ints("strides", w.Stride, w.Stride));
                node.Attribute.Add(Ints("pads", w.Padding, w.Padding, w.Padding, w.Padding));
                if (!max)
                {
                    node.Attribute.Add(Int("count_include_pad", 1));
                }
                Bind(op.Output, node);
                return;
            }
            case TracedOpKind.GlobalAvgPool:
                Bind(op.Output, NewNode("GlobalAveragePool", Unique("GlobalAveragePool"), Present(inputs)));
                return;
            case TracedOpKind.Flatten:
            {
                var node = NewNode("Flatten", Unique("Flatten"), Present(inputs));
                node.Attribute.Add(Int("axis", 1));
                Bind(op.Output, node);
                return;
            }
            case TracedOpKind.Reshape:
                EmitReshape(op, (int[])op.Attributes!);
                return;
            case TracedOpKind.Concat:
            {
                var node = NewNode("Concat", Unique("Concat"), Present(inputs));
                node.Attribute.Add(Int("axis", 1));
                Bind(op.Output, node);
                return;
            }
            default:
                throw new NotSupportedException($"ONNX export does not cover the operation {op.Kind}");
        }
    }

    private void EmitConv(TracedOp op, ConvGeometry g)
    {
        bool transpose = op.Kind == TracedOpKind.ConvTranspose;
        var w = (Variable<float>)op.Inputs[1]!;
        string type = transpose ? "ConvTranspose" : "Conv";
        var node = NewNode(type, NameFromWeight(w, type), Present(op.Inputs));
        node.Attribute.Add(Ints("kernel_shape", [.. w.Shape[2..].ToArray()]));
        node.Attribute.Add(Ints("strides", [.. g.Stride]));
        node.Attribute.Add(Ints("pads", [.. g.PaddingBefore, .. g.PaddingAfter]));
        node.Attribute.Add(Ints("dilations", [.. g.Dilation]));
        node.Attribute.Add(Int("group", g.Groups));
        if (transpose && g.OutputPadding.Any(p => p != 0))
        {
            node.Attribute.Add(Ints("output_padding", [.. g.OutputPadding]));
        }
        Bind(op.Output, node);
    }

    private void EmitBatchNorm(TracedOp op, TracedBatchNorm<float> bn)
    {
        if (bn.Training || bn.RunningMean is null || bn.RunningVar is null)
        {
            throw new NotSupportedException("ONNX export needs batch norm in evaluation mode (running statistics); a module ran it with batch statistics although the model was put in evaluation mode");
        }
        string name = NameFromWeight(op.Inputs[1]!, "BatchNormalization");
        var node = NewNode("BatchNormalization", name,
            [Resolve(op.Inputs[0]!), Resolve(op.Inputs[1]!), Resolve(op.Inputs[2]!), ResolveTensor(bn.RunningMean), ResolveTensor(bn.RunningVar)]);
        node.Attribute.Add(new AttributeProto { Name = "epsilon", Type = AttributeProto.Types.AttributeType.Float, F = (float)bn.Eps });
        Bind(op.Output, node);
    }

    private void EmitReshape(TracedOp op, int[] target)
    {
        var x = (Variable<float>)op.Inputs[0]!;
        var shape = target.Select(d => (long)d).ToArray();
        if (_options.BatchSize is null)
        {
            // A dynamic batch: the batch axis must stay first; ONNX's 0 copies it from the input.
            if (target.Length == 0 || target[0] != _batch || x.Shape[0] != _batch)
            {
                throw new NotSupportedException($"a reshape of {Shapes.Format(x.Shape)} to {Shapes.Format(target)} changes the batch axis, so it cannot be exported with a dynamic batch (give a fixed batch size)");
            }
            shape[0] = 0;
        }
        string name = Unique("Reshape");
        string shapeName = Int64Initializer(name + ".shape", shape);
        Bind(op.Output, NewNode("Reshape", name, [Resolve(x), shapeName]));
    }

    /// <summary>The value name of a traced operand: an earlier op's output, a parameter, or a constant.</summary>
    private string Resolve(object operand)
    {
        if (_values.TryGetValue(operand, out var name))
        {
            return name;
        }
        var v = (Variable<float>)operand;
        if (v.GradFn is { } fn)
        {
            throw new NotSupportedException($"the model's forward pass uses an operation ONNX export does not cover ({fn.Name}); only the library's modules and Functional operations are exported");
        }
        if (!_stateNames.ContainsKey(v) && !_gradWasOn)
        {
            throw new NotSupportedException("the model's forward pass uses a value that no exported operation made (a user-defined op?); export outside GradMode.NoGrad() so that constants can be told from such values");
        }
        if (v.IsChannelBlocked)
        {
            throw new NotSupportedException("the model's forward pass uses a channel-blocked constant, which ONNX export does not cover");
        }
        string n = _stateNames.TryGetValue(v, out var state) ? state : $"constant{_constants++}";
        n = Initializer(n, v.Value.ReadOnlySpan, v.Shape);
        _values[v] = n;
        return n;
    }

    private string ResolveTensor(Tensor<float> t)
    {
        if (_values.TryGetValue(t, out var name))
        {
            return name;
        }
        string n = Initializer(_stateNames.TryGetValue(t, out var state) ? state : $"constant{_constants++}", t.ReadOnlySpan, t.Shape);
        _values[t] = n;
        return n;
    }

    private List<string> Present(object?[] inputs) => inputs.Where(i => i is not null).Select(i => Resolve(i!)).ToList();

    private void Bind(object output, NodeProto node) => _values[output] = node.Output[0];

    private void Bind(object output, string value) => _values[output] = value;

    private string Node(string type, string name, List<string> inputs) => NewNode(type, name, inputs).Output[0];

    private NodeProto NewNode(string type, string name, List<string> inputs)
    {
        var node = new NodeProto { OpType = type, Name = name };
        node.Input.AddRange(inputs);
        node.Output.Add(name);
        _graph.Node.Add(node);
        return node;
    }

    /// <summary>A node named after its layer (<c>layer1.0.conv1</c> for the weight <c>layer1.0.conv1.weight</c>).</summary>
    private string NameFromWeight(object weight, string fallback)
    {
        if (_stateNames.TryGetValue(weight, out var state))
        {
            int dot = state.LastIndexOf('.');
            return Unique(dot > 0 ? state[..dot] : state);
        }
        return Unique(fallback);
    }

    private string Unique(string stem)
    {
        if (_used.Add(stem) && !_initializerNames.Contains(stem))
        {
            return stem;
        }
        for (int i = 1; ; i++)
        {
            string candidate = stem + "_" + i.ToString(CultureInfo.InvariantCulture);
            if (!_initializerNames.Contains(candidate) && _used.Add(candidate))
            {
                return candidate;
            }
        }
    }

    private string Initializer(string name, ReadOnlySpan<float> values, ReadOnlySpan<int> shape)
    {
        name = Unique(name);
        _initializerNames.Add(name);
        _graph.Initializer.Add(ProtoTensors.Float(name, values, shape));
        return name;
    }

    private string Int64Initializer(string name, long[] values)
    {
        name = Unique(name);
        _initializerNames.Add(name);
        _graph.Initializer.Add(ProtoTensors.Int64(name, values, values.Length));
        return name;
    }

    /// <summary>Renames the value <paramref name="from"/> to <paramref name="to"/> wherever a node reads or writes it.</summary>
    private void Rename(string from, string to)
    {
        foreach (var node in _graph.Node)
        {
            for (int i = 0; i < node.Input.Count; i++)
            {
                if (node.Input[i] == from)
                {
                    node.Input[i] = to;
                }
            }
            for (int i = 0; i < node.Output.Count; i++)
            {
                if (node.Output[i] == from)
                {
                    node.Output[i] = to;
                }
            }
        }
    }

    /// <summary>Drops the nodes and initializers the output does not depend on (inner steps of composite ops).</summary>
    private void Prune()
    {
        var needed = new HashSet<string>(StringComparer.Ordinal) { _options.OutputName };
        var keep = new bool[_graph.Node.Count];
        for (int i = _graph.Node.Count - 1; i >= 0; i--)
        {
            var node = _graph.Node[i];
            if (node.Output.Any(needed.Contains))
            {
                keep[i] = true;
                foreach (var input in node.Input)
                {
                    needed.Add(input);
                }
            }
        }
        var nodes = _graph.Node.Where((_, i) => keep[i]).ToList();
        _graph.Node.Clear();
        _graph.Node.AddRange(nodes);
        var initializers = _graph.Initializer.Where(t => needed.Contains(t.Name)).ToList();
        _graph.Initializer.Clear();
        _graph.Initializer.AddRange(initializers);
    }

    private ValueInfoProto ValueInfo(string name, int[] sample)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(_options.BatchSize is int b
            ? new TensorShapeProto.Types.Dimension { DimValue = b }
            : new TensorShapeProto.Types.Dimension { DimParam = _options.BatchAxisName });
        foreach (int d in sample)
        {
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    private static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static AttributeProto Ints(string name, params int[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        foreach (int v in values)
        {
            a.Ints.Add(v);
        }
        return a;
    }
}
