using System.Globalization;
using System.Numerics;
using System.Text;
using ConvGrad.Autograd;

namespace ConvGrad.Nn;

/// <summary>
/// Printed forms of a model: PyTorch's nested <c>repr</c> (<see cref="Module{T}.ToString"/>) and torchinfo's
/// <c>summary</c> table of layers, output shapes and parameter counts (<see cref="Module{T}.Summary"/>).
/// </summary>
internal static class ModuleSummary
{
    /// <summary>The type's name without its generic arity (<c>Conv2d</c>).</summary>
    public static string TypeName(object module)
    {
        string name = module.GetType().Name;
        int tick = name.IndexOf('`', StringComparison.Ordinal);
        return tick < 0 ? name : name[..tick];
    }

    /// <summary>PyTorch's repr: <c>Name(extra)</c>, or <c>Name(</c> children indented <c>)</c>.</summary>
    public static string Repr<T>(Module<T> module) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var sb = new StringBuilder();
        Repr(module, sb, 0);
        return sb.ToString();
    }

    private static void Repr<T>(Module<T> module, StringBuilder sb, int indent) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var children = module.NamedChildren().ToList();
        sb.Append(TypeName(module)).Append('(').Append(module.ExtraReprText);
        if (children.Count == 0)
        {
            sb.Append(')');
            return;
        }
        sb.Append('\n');
        foreach (var (name, child) in children)
        {
            sb.Append(' ', 2 * (indent + 1)).Append('(').Append(name).Append("): ");
            Repr(child, sb, indent + 1);
            sb.Append('\n');
        }
        sb.Append(' ', 2 * indent).Append(')');
    }

    /// <summary>
    /// The torchinfo table for one input of <paramref name="inputShape"/> (without the batch axis): each module with its
    /// depth, its output shape and its own and its children's parameters. Output shapes are known for the model, for
    /// every module inside a <see cref="Sequential{T}"/> (which runs its children one by one), and, inside any other
    /// composite, for each layer with parameters: the traced operation that reads the layer's parameters gives it.
    /// Parameter-free layers and composites inside a composite show "--" (their calls leave no mark in the trace).
    /// </summary>
    public static string Table<T>(Module<T> model, int[] inputShape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        var rows = new List<(string Layer, string Shape, long Params)>();
        bool training = model.Training;
        model.SetTraining(false);
        try
        {
            using var noGrad = GradMode.NoGrad();
            using var scope = TensorScope.Begin();
            using var x = Tensor<T>.Zeros([1, .. inputShape]);
            using var trace = OpTrace.Begin();
            Run(model, new Variable<T>(x), "", 0, rows);
            ShapesFromTrace(model, trace, rows);
        }
        finally
        {
            model.SetTraining(training);
        }
        long total = model.Parameters().Sum(p => p.Value.Length);
        int w0 = Math.Max(20, rows.Max(r => r.Layer.Length) + 2), w1 = Math.Max(16, rows.Max(r => r.Shape.Length) + 2);
        var sb = new StringBuilder();
        string rule = new('=', w0 + w1 + 12);
        sb.AppendLine(rule);
        sb.Append("Layer (type: name)".PadRight(w0)).Append("Output Shape".PadRight(w1)).AppendLine("Param #".PadLeft(12));
        sb.AppendLine(rule);
        foreach (var (layer, shape, p) in rows)
        {
            sb.Append(layer.PadRight(w0)).Append(shape.PadRight(w1)).AppendLine((p == 0 ? "--" : p.ToString("N0", CultureInfo.InvariantCulture)).PadLeft(12));
        }
        sb.AppendLine(rule);
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Total params: {total:N0}"));
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Input size: [1, {string.Join(", ", inputShape)}]"));
        sb.Append(rule);
        return sb.ToString();
    }

    private static Variable<T> Run<T>(Module<T> module, Variable<T> x, string name, int depth, List<(string, string, long)> rows)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int at = rows.Count;
        string label = depth == 0 ? TypeName(module) : $"{new string(' ', 2 * (depth - 1))}└─{TypeName(module)}: {name}";
        long own = module.NamedChildren().Any() ? 0 : module.Parameters().Sum(p => p.Value.Length);
        rows.Add((label, "", own));
        Variable<T> y;
        if (module is Sequential<T> seq)
        {
            y = x;
            foreach (var (childName, child) in seq.NamedChildren())
            {
                y = Run(child, y, childName, depth + 1, rows);
            }
        }
        else
        {
            y = module.Forward(x);
            foreach (var (childName, child) in module.NamedChildren())
            {
                Unshaped(child, childName, depth + 1, rows);
            }
        }
        rows[at] = (label, "[" + string.Join(", ", y.Shape.ToArray()) + "]", depth == 0 ? 0 : own);
        return y;
    }

    /// <summary>Fills the "--" rows of layers with parameters from the traced operation that read them (in row order).</summary>
    private static void ShapesFromTrace<T>(Module<T> model, OpTrace trace, List<(string Layer, string Shape, long Params)> rows)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var outputOf = new Dictionary<Parameter<T>, string>(ReferenceEqualityComparer.Instance);
        foreach (var op in trace.Ops)
        {
            foreach (var input in op.Inputs)
            {
                if (input is Parameter<T> p && op.Output is Variable<T> y)
                {
                    outputOf[p] = "[" + string.Join(", ", y.Shape.ToArray()) + "]";
                }
            }
        }
        int row = 0;
        foreach (var module in PreOrder(model))
        {
            if (rows[row].Shape == "--" && !module.NamedChildren().Any() && module.Parameters().FirstOrDefault() is { } first
                && outputOf.TryGetValue(first, out var shape))
            {
                rows[row] = (rows[row].Layer, shape, rows[row].Params);
            }
            row++;
        }
    }

    /// <summary>The modules in the order <see cref="Run{T}"/> lists them: each before its children.</summary>
    private static IEnumerable<Module<T>> PreOrder<T>(Module<T> module) where T : unmanaged, IFloatingPointIeee754<T>
    {
        yield return module;
        foreach (var (_, child) in module.NamedChildren())
        {
            foreach (var m in PreOrder(child))
            {
                yield return m;
            }
        }
    }

    private static void Unshaped<T>(Module<T> module, string name, int depth, List<(string, string, long)> rows) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var children = module.NamedChildren().ToList();
        long own = children.Count == 0 ? module.Parameters().Sum(p => p.Value.Length) : 0;
        rows.Add(($"{new string(' ', 2 * (depth - 1))}└─{TypeName(module)}: {name}", "--", own));
        foreach (var (childName, child) in children)
        {
            Unshaped(child, childName, depth + 1, rows);
        }
    }
}
