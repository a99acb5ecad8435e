using System.Numerics;
using ConvGrad.Autograd;

namespace ConvGrad.Nn;

/// <summary>
/// One node of a <see cref="Graph{T}"/>: a module applied to the values named by <see cref="Inputs"/> (the graph's
/// input, <see cref="Graph{T}.InputName"/>, or earlier nodes). Its output is named <see cref="Name"/>.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
/// <param name="Name">The node's name: the name of its output and of its module among the graph's sub-modules (no dots).</param>
/// <param name="Module">The module; a <see cref="MergeModule{T}"/> takes several inputs, any other module exactly one.</param>
/// <param name="Inputs">The names of the values the module reads, in order.</param>
public sealed record GraphNode<T>(string Name, Module<T> Module, IReadOnlyList<string> Inputs)
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// A network that is a directed acyclic graph of modules (what <c>torch.fx.GraphModule</c> holds): each node applies a
/// module to the graph's input or to earlier nodes' outputs, so branches, residual sums (<see cref="Add{T}"/>) and
/// concatenations (<see cref="Concat{T}"/>) compose library modules without writing a <c>Forward</c>. Nodes are kept in
/// the order given, which must be topological (every input named before it is used). The modules are registered under
/// the node names, so parameters are named <c>node.weight</c>. ONNX import builds one of these; a model written in C#
/// with its own <c>Forward</c> is just as good for training and export.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Graph<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The name by which nodes read the graph's input.</summary>
    public const string InputName = "input";

    private readonly GraphNode<T>[] _nodes;
    private readonly int[][] _inputIndex;
    private readonly int _output;

    /// <summary>Builds the graph from <paramref name="nodes"/> in topological order; <paramref name="output"/> names its result.</summary>
    /// <param name="nodes">The nodes, each reading <see cref="InputName"/> or earlier nodes.</param>
    /// <param name="output">The node whose output the graph returns (or <see cref="InputName"/>).</param>
    /// <exception cref="ArgumentException">A name is repeated, empty or has a dot; a node reads a name not defined before it, or has the wrong number of inputs; the output is unknown.</exception>
    public Graph(IEnumerable<GraphNode<T>> nodes, string output)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(output);
        _nodes = nodes.ToArray();
        var index = new Dictionary<string, int>(StringComparer.Ordinal) { [InputName] = -1 };
        _inputIndex = new int[_nodes.Length][];
        for (int i = 0; i < _nodes.Length; i++)
        {
            var node = _nodes[i] ?? throw new ArgumentException($"node {i} is null", nameof(nodes));
            if (index.ContainsKey(node.Name))
            {
                throw new ArgumentException($"node name '{node.Name}' is used twice (or is the input's name)", nameof(nodes));
            }
            bool merge = node.Module is MergeModule<T>;
            if (node.Inputs.Count == 0 || (!merge && node.Inputs.Count != 1))
            {
                throw new ArgumentException($"node '{node.Name}' ({node.Module.GetType().Name}) has {node.Inputs.Count} inputs; a merge module takes one or more, any other module exactly one", nameof(nodes));
            }
            _inputIndex[i] = node.Inputs.Select(name => index.TryGetValue(name, out int j)
                ? j
                : throw new ArgumentException($"node '{node.Name}' reads '{name}', which is not the input or an earlier node", nameof(nodes))).ToArray();
            RegisterModule(node.Name, node.Module);
            index[node.Name] = i;
        }
        _output = index.TryGetValue(output, out int o) ? o : throw new ArgumentException($"the output '{output}' is not a node of the graph", nameof(output));
        Output = output;
    }

    /// <summary>The nodes in the order they run.</summary>
    public IReadOnlyList<GraphNode<T>> Nodes => _nodes;

    /// <summary>The name of the value the graph returns.</summary>
    public string Output { get; }

    /// <inheritdoc />
    public override Variable<T> Forward(Variable<T> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var values = new Variable<T>[_nodes.Length];
        for (int i = 0; i < _nodes.Length; i++)
        {
            var inputs = _inputIndex[i];
            var module = _nodes[i].Module;
            if (module is MergeModule<T> merge)
            {
                var args = new Variable<T>[inputs.Length];
                for (int j = 0; j < inputs.Length; j++)
                {
                    args[j] = inputs[j] < 0 ? x : values[inputs[j]];
                }
                values[i] = merge.Forward(args);
            }
            else
            {
                values[i] = module.Forward(inputs[0] < 0 ? x : values[inputs[0]]);
            }
        }
        return _output < 0 ? x : values[_output];
    }
}

/// <summary>
/// A module that joins several inputs into one (a node of a <see cref="Graph{T}"/> where branches meet). Called with one
/// input, it returns the join of that input alone.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public abstract class MergeModule<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Joins <paramref name="inputs"/>.</summary>
    /// <param name="inputs">One or more inputs.</param>
    public abstract Variable<T> Forward(IReadOnlyList<Variable<T>> inputs);

    /// <inheritdoc />
    public override Variable<T> Forward(Variable<T> x) => Forward([x]);
}

/// <summary>The element-wise sum of its inputs, all of one shape (a residual connection).</summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Add<T> : MergeModule<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override Variable<T> Forward(IReadOnlyList<Variable<T>> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Count == 0)
        {
            throw new ArgumentException("Add needs at least one input", nameof(inputs));
        }
        var sum = inputs[0];
        for (int i = 1; i < inputs.Count; i++)
        {
            sum = Functional.Add(sum, inputs[i]);
        }
        return sum;
    }
}

/// <summary>Concatenation of its inputs along the channel axis (<c>torch.cat(xs, dim=1)</c>, <see cref="Functional.Concat{T}"/>).</summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Concat<T> : MergeModule<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override Variable<T> Forward(IReadOnlyList<Variable<T>> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return Functional.Concat([.. inputs]);
    }
}

/// <summary>
/// Reshapes each sample, keeping the batch axis: <c>[N, ...] → [N, shape...]</c> (<c>x.view(x.size(0), ...)</c>); one
/// entry may be −1, inferred from the sample's size.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Reshape<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int[] _shape;

    /// <summary>Creates the layer.</summary>
    /// <param name="sampleShape">The shape of each sample after the batch axis; at most one −1, other entries ≥ 1.</param>
    public Reshape(params int[] sampleShape)
    {
        ArgumentNullException.ThrowIfNull(sampleShape);
        if (sampleShape.Count(d => d == -1) > 1 || sampleShape.Any(d => d is 0 or < -1))
        {
            throw new ArgumentException($"a sample shape has entries >= 1 and at most one -1; got {Shapes.Format(sampleShape)}", nameof(sampleShape));
        }
        _shape = sampleShape.ToArray();
    }

    /// <summary>The shape of each sample (−1: inferred).</summary>
    public IReadOnlyList<int> SampleShape => _shape;

    /// <inheritdoc />
    public override Variable<T> Forward(Variable<T> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var shape = x.Shape;
        long per = shape.Length == 0 ? 0 : Shapes.Product(shape[1..]);
        long known = 1;
        foreach (int d in _shape)
        {
            known *= d == -1 ? 1 : d;
        }
        int[] target = [shape[0], .. _shape];
        int free = Array.IndexOf(_shape, -1);
        if (free >= 0 && known > 0 && per % known == 0)
        {
            target[free + 1] = (int)(per / known);
        }
        else if (free >= 0 || known != per)
        {
            throw new ArgumentException($"cannot reshape samples of {Shapes.Format(shape[1..])} ({per} values) to {Shapes.Format(_shape)}", nameof(x));
        }
        return Functional.Reshape(x, target);
    }
}
