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
        using var pass = OpProfiler.EnterBackward();
        if (root.GradFn is null)
        {
            root.Accumulate(seed, owned: false);
            if (root.HasPostAccumulateGradHooks)
            {
                root.RunPostAccumulateGradHooks();
            }
            return;
        }
        var nodes = new List<Node<T>>();
        var seen = new HashSet<Node<T>>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<Node<T>>();
        // Leaves with post-accumulate-grad hooks and the node that adds their last gradient share: the one recorded
        // first among their consumers, since the walk runs in reverse recording order (null while no leaf has hooks).
        Dictionary<Variable<T>, Node<T>>? lastUse = null;
        stack.Push(root.GradFn);
        seen.Add(root.GradFn);
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            nodes.Add(n);
            foreach (var input in n.Inputs)
            {
                if (input.GradFn is { } f)
                {
                    if (seen.Add(f))
                    {
                        stack.Push(f);
                    }
                }
                else if (input.HasPostAccumulateGradHooks)
                {
                    lastUse ??= new Dictionary<Variable<T>, Node<T>>(ReferenceEqualityComparer.Instance);
                    if (!lastUse.TryGetValue(input, out var last) || n.Sequence < last.Sequence)
                    {
                        lastUse[input] = n;
                    }
                }
            }
        }
        nodes.Sort((a, b) => b.Sequence.CompareTo(a.Sequence));
        root.GradFn.AccumulateOutputGrad(seed, owned: false);
        foreach (var n in nodes)
        {
            inRules += n.RunBackward();
            if (lastUse is not null)
            {
                // The hooks' own work (e.g. starting an all-reduce) is not autograd bookkeeping.
                inRules += FireFinalGradients(n, lastUse);
            }
        }
        long bookkeeping = Stopwatch.GetTimestamp() - start - inRules;
        TapeStatistics.Add(nodes.Count, bookkeeping);
        OpProfiler.AddBookkeeping(bookkeeping);
    }

    /// <summary>
    /// Runs the hooks of the leaves whose last consumer is <paramref name="n"/> (each once, in input order); returns the
    /// <see cref="Stopwatch"/> ticks they took.
    /// </summary>
    private static long FireFinalGradients(Node<T> n, Dictionary<Variable<T>, Node<T>> lastUse)
    {
        long t0 = Stopwatch.GetTimestamp();
        foreach (var input in n.Inputs)
        {
            // Removing the entry makes a leaf that is several inputs of this node fire once.
            if (input.GradFn is null && lastUse.TryGetValue(input, out var last) && ReferenceEquals(last, n))
            {
                lastUse.Remove(input);
                input.RunPostAccumulateGradHooks();
            }
        }
        return Stopwatch.GetTimestamp() - t0;
    }
}
