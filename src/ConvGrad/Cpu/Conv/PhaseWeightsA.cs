using System.Runtime.CompilerServices;
using ConvGrad.Cpu.Gemm;

namespace ConvGrad.Cpu.Conv;

/// <summary>
/// The A operand of one backward-data phase: the channel-transposed weight restricted to the taps that reach the phase,
/// <c>A[c][k·T + t] = W[k, c, tap_t]</c> for one group (<c>W [K_g, C_g, R]</c>). Taking the taps with their own offsets
/// (instead of rotating the kernel) is the same sum; only the taps of the phase are ever packed.
/// </summary>
internal unsafe struct PhaseWeightsA<TK> : IPackA where TK : struct, IGemmTile
{
    private readonly float* _w;
    private readonly int _cg, _ks, _taps;
    private readonly int* _tapW;

    public PhaseWeightsA(float* w, int cg, int kerSpatial, int taps, int* tapW)
    {
        _w = w;
        _cg = cg;
        _ks = kerSpatial;
        _taps = taps;
        _tapW = tapW;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Pack(float* dst, int i0, int mc, int k0, int kc)
    {
        int MR = TK.MR;
        for (int p = 0; p * MR < mc; p++)
        {
            float* pd = dst + (nint)p * kc * MR;
            int rows = Math.Min(MR, mc - p * MR);
            int k = k0 / _taps, t = k0 % _taps;
            for (int kk = 0; kk < kc; kk++)
            {
                float* src = _w + ((nint)k * _cg + i0 + p * MR) * _ks + _tapW[t];
                float* d = pd + kk * MR;
                int i = 0;
                for (; i < rows; i++)
                {
                    d[i] = src[i * _ks];
                }
                for (; i < MR; i++)
                {
                    d[i] = 0f;
                }
                if (++t == _taps)
                {
                    t = 0;
                    k++;
                }
            }
        }
    }
}
