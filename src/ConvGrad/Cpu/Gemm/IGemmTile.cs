namespace ConvGrad.Cpu.Gemm;

/// <summary>
/// One tier's GEMM register tile and the blocking sized for it (BLIS: an MR×NR tile of accumulators, a KC-deep
/// reduction block whose KC×NR micro-panel of B stays in L1, an MC×KC block of A in L2, a KC×NC block of B in L3).
/// The contract of <see cref="Run"/>: <c>C[MR×NR] = init + Σ_{k&lt;kc} a[k]·b[k]ᵀ</c>, with <c>a</c> a packed A
/// micro-panel <c>[kc][MR]</c> and <c>b</c> a B micro-panel <c>[kc][NR]</c> of row stride <c>ldb</c> (NR when packed;
/// the tensor's row stride when B is read in place); <c>init</c> is C itself when <c>accumulate</c>, else
/// <c>rowInit[i]</c> along row i when given (the bias), else 0. Each element is the chain <c>acc = fma(a[k], b[k], acc)</c>
/// for k = 0, 1, … in that order, so a tile computes the same bits wherever it sits in the output.
/// Implementations are structs, so the driver and the packers are specialised per tile with MR, NR, … as constants.
/// </summary>
internal unsafe interface IGemmTile
{
    /// <summary>The tier whose instructions <see cref="Run"/> uses (the packers may use the same tier's instructions).</summary>
    static abstract IsaTier Tier { get; }

    /// <summary>Rows of the register tile (the broadcast operand A).</summary>
    static abstract int MR { get; }

    /// <summary>Columns of the register tile (vectors of B).</summary>
    static abstract int NR { get; }

    /// <summary>Depth of a reduction block; block boundaries fix each element's summation order (a function of the shape and the tile).</summary>
    static abstract int KC { get; }

    /// <summary>Rows of A packed per block (a multiple of <see cref="MR"/>).</summary>
    static abstract int MC { get; }

    /// <summary>Columns of B packed per block (a multiple of <see cref="NR"/>).</summary>
    static abstract int NC { get; }

    /// <summary>The kernel's name as bench and explain print it, e.g. <c>gemm6x16 avx2</c>.</summary>
    static abstract string Name { get; }

    /// <summary>Computes one full tile (see the type's remarks).</summary>
    static abstract void Run(int kc, float* a, float* b, nint ldb, float* c, nint ldc, float* rowInit, bool accumulate);
}
