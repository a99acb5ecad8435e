using ConvGrad.Autograd;

namespace ConvGrad.Tests;

/// <summary>
/// <see cref="Variable{T}.RegisterPostAccumulateGradHook"/>: called once per backward pass as soon as a leaf's
/// gradient is final (after its last contribution, before the rest of backward), as PyTorch's
/// <c>register_post_accumulate_grad_hook</c>; data-parallel training starts all-reduces from it.
/// </summary>
public class PostAccumulateGradHookTests
{
    private static Variable<double> Leaf(int seed, params int[] shape) => new(NnGradCheck.Random(new Random(seed), shape), requiresGrad: true);

    [Fact]
    public void ALeafUsedSeveralTimes_FiresOnce_WithItsFinalGradient()
    {
        var x = Leaf(2, 2, 3);
        var w = Leaf(3, 2, 3);
        var seen = new List<(string Name, double[] Grad)>();
        x.RegisterPostAccumulateGradHook(v => seen.Add(("x", v.Grad!.ToArray())));
        w.RegisterPostAccumulateGradHook(v => seen.Add(("w", v.Grad!.ToArray())));
        // L = Σ (x + x·w) − x + Σ x·x (x is both inputs of one product): ∂L/∂x = w + 2x; ∂L/∂w = x.
        Functional.Sum((x + x * w) - x + x * x).Backward();
        Assert.Equal(2, seen.Count);
        var gx = seen.Single(s => s.Name == "x").Grad;
        Assert.Equal(x.Grad!.ToArray(), gx);
        Assert.All(w.Value.ToArray().Zip(x.Value.ToArray(), gx), t => Assert.Equal(t.First + 2 * t.Second, t.Third, 12));
        Assert.Equal(x.Value.ToArray(), seen.Single(s => s.Name == "w").Grad);
    }

    [Fact]
    public void ALaterLayersGradient_FiresBeforeTheEarlierLayersBackwardRuns()
    {
        var x = new Variable<double>(NnGradCheck.Random(new Random(1), 4, 5));
        var w1 = Leaf(2, 6, 5);
        var w2 = Leaf(3, 3, 6);
        var order = new List<string>();
        w1.RegisterPostAccumulateGradHook(v => order.Add("w1"));
        w2.RegisterPostAccumulateGradHook(v =>
        {
            order.Add("w2");
            Assert.Null(w1.Grad);   // the first layer's backward has not run yet
        });
        Functional.Sum(Functional.Linear(Functional.Relu(Functional.Linear(x, w1, null)), w2, null)).Backward();
        Assert.Equal(["w2", "w1"], order);
        Assert.NotNull(w1.Grad);
    }

    [Fact]
    public void Hooks_FireInTheSameOrderEveryPass_AndOncePerPass()
    {
        var leaves = Enumerable.Range(0, 5).Select(i => Leaf(10 + i, 3)).ToArray();
        var order = new List<int>();
        for (int i = 0; i < leaves.Length; i++)
        {
            int k = i;
            leaves[i].RegisterPostAccumulateGradHook(_ => order.Add(k));
        }
        List<int> Pass()
        {
            order.Clear();
            // ((l0·l1 + l2)·l3 + l4·l0)
            var y = (leaves[0] * leaves[1] + leaves[2]) * leaves[3] + leaves[4] * leaves[0];
            Functional.Sum(y).Backward();
            return [.. order];
        }
        var first = Pass();
        // Reverse recording order: l4 (with l0 in the last product, but l0 is used earlier too), l3, l2, then the first
        // product's inputs l0 and l1 in input order; l0 fires once, after its earlier use.
        Assert.Equal([4, 3, 2, 0, 1], first);
        Assert.Equal(first, Pass());
    }

    [Fact]
    public void ARootLeafFires_DisposingRemovesTheHook_AndInteriorVariablesRefuse()
    {
        var x = Leaf(1, 1);
        int calls = 0;
        var handle = x.RegisterPostAccumulateGradHook(_ => calls++);
        x.Backward();
        Assert.Equal(1, calls);
        handle.Dispose();
        handle.Dispose();
        x.Backward();
        Assert.Equal(1, calls);
        var y = x * x;
        Assert.Throws<InvalidOperationException>(() => y.RegisterPostAccumulateGradHook(_ => { }));
        Assert.Throws<InvalidOperationException>(() => new Variable<double>(x.Value).RegisterPostAccumulateGradHook(_ => { }));
    }
}
