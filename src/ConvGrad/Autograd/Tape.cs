using System.Diagnostics;
using System.Numerics;

namespace ConvGrad.Autograd;

/// <summary>
/// The reverse walk of a backward pass: the nodes the root depends on, in reverse recording order. Because every
/// node is recorded after the nodes that made its inputs, reverse order visits a node only after every consumer of
/// its output has added its share of the gradient.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
internal static class Tape<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void Run(Variable<T> root, Tensor<T> seed)
    {
        long start = Stopwatch.GetTimestamp(), inRules = 0;
        if (root.GradFn is null)
        {
            root.Accumulate(seed, owned: false);
            return;
        }
        var nodes = new List<Node<T>>();
        var seen = new HashSet<Node<T>>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<Node<T>>();
        stack.Push(root.GradFn);
        seen.Add(root.GradFn);
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            nodes.Add(n);
            foreach (var input in n.Inputs)
            {
                if (input.GradFn is { } f && seen.Add(f))
                {
                    stack.Push(f);
                }
            }
        }
        nodes.Sort((a, b) => b.Sequence.CompareTo(a.Sequence));
        root.GradFn.AccumulateOutputGrad(seed, owned: false);
        foreach (var n in nodes)
        {
            inRules += n.RunBackward();
        }
        TapeStatistics.Add(nodes.Count, Stopwatch.GetTimestamp() - start - inRules);
    }
}
