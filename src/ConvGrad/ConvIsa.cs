namespace ConvGrad;

/// <summary>
/// The widest instruction-set tier the fast CPU engine may use (<see cref="ConvOptions.MaxIsa"/>). The engine picks the
/// widest tier the processor and the runtime support (the runtime knobs <c>DOTNET_EnableAVX512=0</c>, which .NET 10 reads instead of the older <c>DOTNET_EnableAVX512F</c>, and
/// <c>DOTNET_EnableAVX2=0</c> lower it for a whole process) and never goes above this cap. Results are bitwise the same
/// for any thread count within a tier; different tiers may round differently (their reductions are blocked differently).
/// </summary>
public enum ConvIsa
{
    /// <summary>No cap: the widest tier this machine supports.</summary>
    Auto,

    /// <summary>At most AVX-512: <c>Vector512</c> kernels with 32 vector registers.</summary>
    Avx512,

    /// <summary>At most AVX2 + FMA: <c>Vector256</c> kernels with 16 vector registers.</summary>
    Avx2,

    /// <summary>Portable code only: <c>Vector128</c> and scalar kernels (what runs on ARM64 and on x64 without AVX2).</summary>
    Portable,
}
