namespace ConvGrad.Explain;

/// <summary>What the dK reduction check found: thread counts compared, whether their bits agree, and how many dK cells one FMA chain in formula order reproduces.</summary>
/// <param name="Threads">The thread counts the engine's dW ran with.</param>
/// <param name="SameBits">Whether dW came out bit for bit the same for every thread count.</param>
/// <param name="Reproduced">How many dK cells equal, bit for bit, one fused multiply-add per term in the formula's order, starting from 0.</param>
/// <param name="Cells">How many dK cells there are.</param>
internal sealed record ReductionCheck(IReadOnlyList<int> Threads, bool SameBits, int Reproduced, int Cells);

/// <summary>
/// dK as the reduction the engine runs: each dK cell sums I·dO over the batch and the output pixels, and the derived
/// formula lists those terms in the order (batch item, output pixel row-major). This checks, on random float32 values
/// (where the order changes the bits), that the engine's dW is the same bit for bit for several thread counts, and how
/// many dK cells one fused multiply-add per term, in exactly that order and starting from 0, reproduces bit for bit:
/// when all do, the formula's order <em>is</em> the engine's order, which is why the thread count cannot change it.
/// </summary>
internal static class ReductionOrder
{
    /// <summary>The thread counts compared.</summary>
    public static readonly int[] ThreadCounts = [1, 2, 3];

    /// <summary>Runs the check on values from <paramref name="seed"/>.</summary>
    public static ReductionCheck Check(Derivation d, int seed)
    {
        var rng = new Random(unchecked(seed * 7919 + 17));
        using var x = Random(d.InputShape, rng);
        using var dy = Random(d.OutputShape, rng);
        float[]? first = null;
        bool same = true;
        foreach (int threads in ThreadCounts)
        {
            using var dw = Conv.BackwardWeight(x, dy, d.Geometry, d.WeightShape, new ConvOptions { Threads = threads });
            float[] bits = dw.ToArray();
            if (first is null)
            {
                first = bits;
            }
            else
            {
                same &= bits.AsSpan().SequenceEqual(first);
            }
        }
        float[] xs = x.ToArray(), dys = dy.ToArray();
        int reproduced = 0;
        foreach (var f in d.KernelGradient)
        {
            float acc = 0f;
            foreach (var t in f.Terms)
            {
                acc = MathF.FusedMultiplyAdd(xs[Flat(t.Left, d.InputShape)], dys[Flat(t.Right, d.OutputShape)], acc);
            }
            if (BitConverter.SingleToInt32Bits(acc) == BitConverter.SingleToInt32Bits(first![Flat(f.Target, d.WeightShape)]))
            {
                reproduced++;
            }
        }
        return new ReductionCheck(ThreadCounts, same, reproduced, d.KernelGradient.Count);
    }

    private static Tensor<float> Random(int[] shape, Random rng)
    {
        var t = Tensor<float>.Uninitialized(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        return t;
    }

    private static int Flat(int[] index, int[] shape)
    {
        int flat = 0;
        for (int a = 0; a < index.Length; a++)
        {
            flat = flat * shape[a] + index[a];
        }
        return flat;
    }
}
