namespace ConvGrad.Cpu;

/// <summary>Tap tables: for each kernel tap, the per-axis offset that turns an output coordinate into a source coordinate.</summary>
internal static unsafe class ConvTaps
{
    /// <summary>Forward and backward-weight: <c>off[r] = r·d − p</c> per axis, taps in weight order (rz, ry, rx).</summary>
    public static void ForwardOffsets(ConvProblem p, int* off)
    {
        int t = 0;
        for (int rz = 0; rz < p.Ker[0]; rz++)
        for (int ry = 0; ry < p.Ker[1]; ry++)
        for (int rx = 0; rx < p.Ker[2]; rx++)
        {
            off[3 * t] = rz * p.Dil[0] - p.Pad[0];
            off[3 * t + 1] = ry * p.Dil[1] - p.Pad[1];
            off[3 * t + 2] = rx * p.Dil[2] - p.Pad[2];
            t++;
        }
    }

    /// <summary>
    /// Taps of axis <paramref name="a"/> that reach phase ρ: those r with ρ + p − r·d ≡ 0 (mod s), and that reach at least
    /// one output inside [0, out) for some of the phase's <paramref name="count"/> positions ρ, ρ + s, …; <c>off = (ρ + p − r·d)/s</c>.
    /// <paramref name="count"/> = <see cref="int.MaxValue"/> means "unbounded" (an axis whose positions are checked one by one
    /// later): only taps whose offset is already past the last output are dropped. Returns how many were written to
    /// <paramref name="r"/> / <paramref name="off"/> (int for the reference kernels, nint for the blocked ones).
    /// </summary>
    public static int PhaseAxis<T>(ConvProblem p, int a, int rho, int count, Span<T> r, Span<T> off)
        where T : unmanaged, System.Numerics.IBinaryInteger<T>
    {
        int s = p.Stride[a], n = 0;
        for (int k = 0; k < p.Ker[a]; k++)
        {
            int t = rho + p.Pad[a] - k * p.Dil[a];
            if (((t % s) + s) % s != 0)
            {
                continue;
            }
            int o = t >= 0 ? t / s : -((-t) / s);
            if ((long)o + count - 1 < 0 || o >= p.Out[a])
            {
                continue;
            }
            r[n] = T.CreateTruncating(k);
            off[n] = T.CreateTruncating(o);
            n++;
        }
        return n;
    }
}
