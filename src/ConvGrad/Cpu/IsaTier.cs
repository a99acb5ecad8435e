using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvGrad.Cpu;

/// <summary>The instruction-set tiers of the fast engine, ordered from narrowest to widest.</summary>
internal enum IsaTier
{
    /// <summary><c>Vector128</c> and scalar code: no AVX2 or FMA intrinsics (also correct on ARM64).</summary>
    Portable = 0,

    /// <summary>AVX2 + FMA, <c>Vector256</c>, 16 ymm registers.</summary>
    Avx2 = 1,

    /// <summary>AVX-512F, <c>Vector512</c>, 32 zmm registers (the 256-bit kernels are valid here too).</summary>
    Avx512 = 2,
}

/// <summary>Which tier this process supports, and the cap of <see cref="ConvOptions.MaxIsa"/> applied to it.</summary>
internal static class IsaTiers
{
    /// <summary>
    /// The widest tier of this process, from the runtime's view of the processor: <c>Avx512F.IsSupported</c> with
    /// <c>Vector512.IsHardwareAccelerated</c> (false where the runtime judges 512-bit code slower, or with
    /// <c>DOTNET_EnableAVX512=0</c>; .NET 10 ignores the older <c>DOTNET_EnableAVX512F</c>), else <c>Avx2.IsSupported &amp;&amp; Fma.IsSupported</c> (false with
    /// <c>DOTNET_EnableAVX2=0</c>), else portable.
    /// </summary>
    public static IsaTier Best { get; } = Detect();

    private static IsaTier Detect()
    {
        bool avx2 = Avx2.IsSupported && Fma.IsSupported;
        if (avx2 && Avx512F.IsSupported && Vector512.IsHardwareAccelerated)
        {
            return IsaTier.Avx512;
        }
        return avx2 ? IsaTier.Avx2 : IsaTier.Portable;
    }

    /// <summary>The tier a call with cap <paramref name="cap"/> runs on: the lower of the cap and <see cref="Best"/>.</summary>
    public static IsaTier Resolve(ConvIsa cap)
    {
        IsaTier limit = cap switch
        {
            ConvIsa.Auto or ConvIsa.Avx512 => IsaTier.Avx512,
            ConvIsa.Avx2 => IsaTier.Avx2,
            ConvIsa.Portable => IsaTier.Portable,
            _ => throw new ArgumentException($"unknown ISA cap {cap}", nameof(cap)),
        };
        return limit < Best ? limit : Best;
    }

    /// <summary>Whether this process can run <paramref name="cap"/> itself (not a lower tier in its place).</summary>
    public static bool Supports(ConvIsa cap) => cap == ConvIsa.Auto || ToPublic(Resolve(cap)) == cap;

    /// <summary>The public name of a tier.</summary>
    public static ConvIsa ToPublic(IsaTier tier) => tier switch
    {
        IsaTier.Avx512 => ConvIsa.Avx512,
        IsaTier.Avx2 => ConvIsa.Avx2,
        _ => ConvIsa.Portable,
    };

    /// <summary>The lower-case name printed by <c>convgrad bench</c> and <c>explain</c>: avx512, avx2 or portable.</summary>
    public static string Name(IsaTier tier) => tier switch
    {
        IsaTier.Avx512 => "avx512",
        IsaTier.Avx2 => "avx2",
        _ => "portable",
    };
}
