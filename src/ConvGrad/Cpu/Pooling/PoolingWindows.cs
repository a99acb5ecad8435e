namespace ConvGrad.Cpu.Pooling;

/// <summary>
/// What a pooling kernel does with one window, for one group of lanes: <see cref="Begin"/> at the window's first
/// element, <see cref="Row"/> once per window row in row-major order, <see cref="End"/> to write the output. Ops are
/// <c>ref struct</c>s holding their spans, so <see cref="PoolingWindows.Walk{TOp}"/> is specialised and inlined per op
/// (the TensorPrimitives pattern of operators as structs).
/// </summary>
internal interface IWindowOp
{
    /// <summary>The lanes one step covers: the vector width for a vectorised op, else 1.</summary>
    int LanesPerStep { get; }

    /// <summary>Starts the window of the output element at storage offset <paramref name="output"/>; <paramref name="first"/> is the offset of its first input element.</summary>
    void Begin(int output, int first);

    /// <summary>One row of the window: <paramref name="count"/> pixels from offset <paramref name="start"/>, <paramref name="pitch"/> elements apart.</summary>
    void Row(int start, int count, int pitch);

    /// <summary>Ends the window of the output element at storage offset <paramref name="output"/>.</summary>
    void End(int output);
}

/// <summary>
/// The one enumeration of pooling windows: for each plane, output row <c>i</c> and column <c>j</c>, the clipped input
/// rows <see cref="PoolWindow.Reads"/> and, within each, the clipped column run; lanes (channels of a block) step
/// through the same window side by side.
/// </summary>
internal static class PoolingWindows
{
    /// <summary>Applies <paramref name="op"/> to every window of <paramref name="planes"/> pooled to <paramref name="ho"/>×<paramref name="wo"/>.</summary>
    public static void Walk<TOp>(PoolPlanes planes, int ho, int wo, PoolWindow win, ref TOp op) where TOp : IWindowOp, allows ref struct
    {
        int lanes = planes.Lanes, w = planes.W, step = op.LanesPerStep;
        for (int pl = 0; pl < planes.Count; pl++)
        {
            int inBase = pl * planes.PlaneLength;
            for (int i = 0; i < ho; i++)
            {
                var (r0, r1) = win.Reads(i, planes.H);
                for (int j = 0; j < wo; j++)
                {
                    var (c0, c1) = win.Reads(j, w);
                    int o = ((pl * ho + i) * wo + j) * lanes;
                    for (int l = 0; l < lanes; l += step)
                    {
                        op.Begin(o + l, inBase + (r0 * w + c0) * lanes + l);
                        for (int r = r0; r < r1; r++)
                        {
                            op.Row(inBase + (r * w + c0) * lanes + l, c1 - c0, lanes);
                        }
                        op.End(o + l);
                    }
                }
            }
        }
    }

    /// <summary>Checks that the spans hold the planes and their pooled outputs, so the ops may read without bounds checks.</summary>
    public static void CheckLengths(PoolPlanes planes, int ho, int wo, int input, int output)
    {
        if (input < planes.Count * planes.PlaneLength || output < planes.Count * ho * wo * planes.Lanes)
        {
            throw new ArgumentException($"pooling storage too small: {input} input and {output} output elements for {planes} pooled to {ho}x{wo}");
        }
    }
}
