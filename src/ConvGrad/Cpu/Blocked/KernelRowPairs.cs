namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// The kernel rows of two output rows (<see cref="KernelRows"/>'s lists <c>X0/W0</c> and <c>X1/W1</c>, each ordered by
/// source row) and their merge: one entry per distinct source row (<c>X</c>), in the same order, with each output row's
/// weight row or −1 (<c>W[2·j + t]</c>). So a kernel over a pair of output rows loads each source row once for both.
/// Its storage is the calling thread's <see cref="BlockedScratch"/> offsets.
/// </summary>
internal unsafe struct KernelRowPairs
{
    public readonly nint* X0, W0, X1, W1, X, W;
    public int N0, N1;

    public KernelRowPairs(int kernelRows)
    {
        nint* p = BlockedScratch.Offsets(10 * kernelRows);
        X0 = p; W0 = p + kernelRows; X1 = p + 2 * kernelRows; W1 = p + 3 * kernelRows;
        X = p + 4 * kernelRows; W = p + 6 * kernelRows;
    }

    /// <summary>Merges the two lists (source offsets ascending or descending) into X and W; returns the number of source rows.</summary>
    public readonly int Merge(bool ascending)
    {
        int i = 0, k = 0, m = 0;
        while (i < N0 || k < N1)
        {
            bool take0 = i < N0, take1 = k < N1;
            if (take0 && take1 && X0[i] != X1[k])
            {
                bool first0 = ascending ? X0[i] < X1[k] : X0[i] > X1[k];
                take0 = first0;
                take1 = !first0;
            }
            X[m] = take0 ? X0[i] : X1[k];
            W[2 * m] = take0 ? W0[i++] : -1;
            W[2 * m + 1] = take1 ? W1[k++] : -1;
            m++;
        }
        return m;
    }
}
