namespace ConvGrad.Gpu.Kernels;

/// <summary>
/// The sizes of a <see cref="ConvProblem"/> as plain ints that a kernel receives by value: batch, channels,
/// groups, the three widened spatial axes (D, H, W) of input and output, and the padding before each axis.
/// Everything that changes from layer to layer of one network lives here; the filter window does not (see
/// <see cref="Window"/>, which kernels receive specialised).
/// </summary>
internal struct ConvDims
{
    public int N, C, K, Groups, Cg, Kg;
    public int In0, In1, In2, Out0, Out1, Out2;
    public int Pad0, Pad1, Pad2;
    public int InSpatial, OutSpatial;

    public static ConvDims From(ConvProblem p) => new()
    {
        N = p.N, C = p.C, K = p.K, Groups = p.Groups, Cg = p.Cg, Kg = p.Kg,
        In0 = p.InputSize[0], In1 = p.InputSize[1], In2 = p.InputSize[2],
        Out0 = p.OutputSize[0], Out1 = p.OutputSize[1], Out2 = p.OutputSize[2],
        Pad0 = p.Padding[0], Pad1 = p.Padding[1], Pad2 = p.Padding[2],
        InSpatial = p.InSpatial, OutSpatial = p.OutSpatial,
    };
}

/// <summary>
/// The filter window: kernel size, stride and dilation per axis (D, H, W). Kernels take it as an ILGPU
/// <c>SpecializedValue</c>, so on CUDA each distinct window compiles once and its index arithmetic folds to
/// constants (divisions by the kernel extent become multiplies, tap loops unroll).
/// </summary>
internal readonly struct Window : IEquatable<Window>
{
    public readonly int Ker0, Ker1, Ker2, Stride0, Stride1, Stride2, Dil0, Dil1, Dil2;

    public Window(ConvProblem p)
    {
        Ker0 = p.KernelSize[0]; Ker1 = p.KernelSize[1]; Ker2 = p.KernelSize[2];
        Stride0 = p.Strides[0]; Stride1 = p.Strides[1]; Stride2 = p.Strides[2];
        Dil0 = p.Dilations[0]; Dil1 = p.Dilations[1]; Dil2 = p.Dilations[2];
    }

    /// <summary>R·S·T: taps of one filter.</summary>
    public int KerSpatial => Ker0 * Ker1 * Ker2;

    /// <summary>Number of filter phases of strided backward-data: s_d·s_h·s_w.</summary>
    public int Phases => Stride0 * Stride1 * Stride2;

    public bool Equals(Window other) =>
        Ker0 == other.Ker0 && Ker1 == other.Ker1 && Ker2 == other.Ker2 &&
        Stride0 == other.Stride0 && Stride1 == other.Stride1 && Stride2 == other.Stride2 &&
        Dil0 == other.Dil0 && Dil1 == other.Dil1 && Dil2 == other.Dil2;

    public override bool Equals(object? obj) => obj is Window w && Equals(w);

    public override int GetHashCode() =>
        HashCode.Combine(HashCode.Combine(Ker0, Ker1, Ker2), HashCode.Combine(Stride0, Stride1, Stride2), HashCode.Combine(Dil0, Dil1, Dil2));
}
