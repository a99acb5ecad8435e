using System.Runtime.CompilerServices;
namespace ConvGrad.Cpu.Gemm;

/// <summary>
/// A stored row by row, with the reduction index split into segments: <c>A[m][q·SegLen + o] = Src[q·SegStride + m·RowStride + o]</c>.
/// One segment is a plain row-major matrix (forward weights <c>[K_g × C_g·R]</c>); backward-weight reads dY
/// <c>[K_g × N·P]</c> this way, one segment per image.
/// </summary>
internal unsafe struct RowPanelsA<TK> : IPackA where TK : struct, IGemmTile
{
    private readonly float* _src;
    private readonly nint _rowStride, _segStride;
    private readonly int _segLen;

    public RowPanelsA(float* src, nint rowStride, int segLen, nint segStride)
    {
        _src = src;
        _rowStride = rowStride;
        _segLen = segLen;
        _segStride = segStride;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Pack(float* dst, int i0, int mc, int k0, int kc)
    {
        int MR = TK.MR;
        for (int p = 0; p * MR < mc; p++)
        {
            float* pd = dst + (nint)p * kc * MR;
            for (int i = 0; i < MR; i++)
            {
                int row = p * MR + i;
                if (row >= mc)
                {
                    RowGather.Zero(pd + i, MR, kc);
                    continue;
                }
                int q = k0 / _segLen, o = k0 % _segLen;
                float* rowBase = _src + (nint)(i0 + row) * _rowStride;
                float* s = rowBase + q * _segStride + o;
                for (int kk = 0; kk < kc; kk++)
                {
                    pd[kk * MR + i] = *s++;
                    if (++o == _segLen)
                    {
                        o = 0;
                        q++;
                        s = rowBase + q * _segStride;
                    }
                }
            }
        }
    }
}
