namespace ConvGrad.Distributed;

/// <summary>
/// A counter-based random stream keyed by <c>(seed, epoch, sample index)</c>: the randomness a sample gets (its
/// shift, its dropout mask) depends on nothing but its global index, so it is the same on whichever rank, with
/// however many ranks, in whatever order the sample is processed — and a resumed run reproduces it.
/// </summary>
/// <remarks>
/// The key is hashed with SplitMix64's finaliser (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", OOPSLA 2014) one component at a time; the stream then steps a Weyl sequence through the same
/// finaliser. The state is one <see cref="ulong"/>, so it can be saved in a checkpoint (<see cref="State"/>).
/// Not for cryptography.
/// </remarks>
public struct SampleRandom
{
    private const ulong Golden = 0x9E3779B97F4A7C15;
    private const ulong Golden2 = unchecked(2 * Golden);
    private const ulong Golden3 = unchecked(3 * Golden);

    private ulong _state;

    /// <summary>The stream of sample <paramref name="sampleIndex"/> in epoch <paramref name="epoch"/> of a run seeded with <paramref name="seed"/>.</summary>
    /// <param name="seed">The run seed.</param>
    /// <param name="epoch">The epoch.</param>
    /// <param name="sampleIndex">The global index of the sample.</param>
    public SampleRandom(ulong seed, long epoch, long sampleIndex)
    {
        ulong h = Mix(seed + Golden);
        h = Mix(h ^ (Mix((ulong)epoch + Golden2) + Golden));
        _state = Mix(h ^ (Mix((ulong)sampleIndex + Golden3) + Golden2));
    }

    /// <summary>Resumes a stream from a saved <see cref="State"/>.</summary>
    /// <param name="state">A state saved earlier.</param>
    public static SampleRandom FromState(ulong state) => new() { _state = state };

    /// <summary>The whole state of the stream (save it to resume exactly where it was).</summary>
    public readonly ulong State => _state;

    /// <summary>SplitMix64's finaliser: a bijection of 64-bit words in which every input bit affects every output bit.</summary>
    /// <param name="z">The value to mix.</param>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        _state += Golden;
        return Mix(_state);
    }

    /// <summary>A uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>A uniform float in [0, 1) with 24 random bits.</summary>
    public float NextSingle() => (NextUInt64() >> 40) * (1f / (1 << 24));

    /// <summary>A uniform integer in [0, <paramref name="maxExclusive"/>), without bias (Lemire's multiply-and-reject).</summary>
    /// <exception cref="ArgumentException"><paramref name="maxExclusive"/> is not positive.</exception>
    /// <param name="maxExclusive">One past the largest value.</param>
    public int NextInt(int maxExclusive)
    {
        if (maxExclusive <= 0)
        {
            throw new ArgumentException($"maxExclusive must be > 0; got {maxExclusive}", nameof(maxExclusive));
        }
        uint n = (uint)maxExclusive;
        ulong m = (NextUInt64() >> 32) * n;
        if ((uint)m < n)
        {
            uint threshold = (0u - n) % n;
            while ((uint)m < threshold)
            {
                m = (NextUInt64() >> 32) * n;
            }
        }
        return (int)(m >> 32);
    }

    /// <summary>A uniform integer in [<paramref name="minInclusive"/>, <paramref name="maxInclusive"/>] (e.g. a shift of ±k pixels).</summary>
    /// <exception cref="ArgumentException">The range is empty.</exception>
    /// <param name="minInclusive">The smallest value.</param>
    /// <param name="maxInclusive">The largest value.</param>
    public int NextInt(int minInclusive, int maxInclusive)
    {
        if (maxInclusive < minInclusive)
        {
            throw new ArgumentException($"empty range [{minInclusive}, {maxInclusive}]", nameof(maxInclusive));
        }
        return minInclusive + NextInt(maxInclusive - minInclusive + 1);
    }

    /// <summary>True with probability <paramref name="p"/> (e.g. a dropout keep decision).</summary>
    /// <param name="p">The probability of true.</param>
    public bool NextBernoulli(double p) => NextDouble() < p;

    /// <summary>
    /// The order in which epoch <paramref name="epoch"/> visits <paramref name="count"/> samples: a Fisher–Yates
    /// shuffle driven by the stream keyed <c>(seed, epoch, −1)</c>. Every rank computes the same order.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="count"/> is negative.</exception>
    /// <param name="count">The number of samples.</param>
    /// <param name="seed">The run seed.</param>
    /// <param name="epoch">The epoch.</param>
    public static int[] EpochOrder(int count, ulong seed, long epoch)
    {
        if (count < 0)
        {
            throw new ArgumentException($"count must be >= 0; got {count}", nameof(count));
        }
        var order = new int[count];
        for (int i = 0; i < count; i++)
        {
            order[i] = i;
        }
        var rng = new SampleRandom(seed, epoch, -1);
        for (int i = count - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
