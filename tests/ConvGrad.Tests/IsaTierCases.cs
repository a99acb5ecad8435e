using ConvGrad.Cpu;

namespace ConvGrad.Tests;

/// <summary>
/// The fast engine's instruction-set tiers as test parameters. Every tier runs where the machine has it (capped through
/// <see cref="ConvOptions.MaxIsa"/>); a tier it lacks is reported as skipped with the reason, never silently passed.
/// </summary>
internal static class IsaTierCases
{
    /// <summary>The three tiers, widest first.</summary>
    public static readonly ConvIsa[] All = [ConvIsa.Avx512, ConvIsa.Avx2, ConvIsa.Portable];

    /// <summary>Theory data: one row per tier.</summary>
    public static TheoryData<ConvIsa> Data()
    {
        var data = new TheoryData<ConvIsa>();
        foreach (var isa in All)
        {
            data.Add(isa);
        }
        return data;
    }

    /// <summary>Skips the running test when this process cannot run <paramref name="isa"/> itself.</summary>
    public static void SkipUnlessSupported(ConvIsa isa) =>
        Skip.IfNot(IsaTiers.Supports(isa), $"this machine (or the runtime's DOTNET_Enable* settings) has no {isa} tier; the widest here is {IsaTiers.ToPublic(IsaTiers.Best)}");

    /// <summary>Fast-engine options capped at <paramref name="isa"/>, after skipping when the machine lacks it.</summary>
    public static ConvOptions Fast(ConvIsa isa, int threads)
    {
        SkipUnlessSupported(isa);
        var o = new ConvOptions { Engine = ConvEngine.Fast, Threads = threads, MaxIsa = isa };
        Assert.Equal(isa, o.EffectiveIsa);
        return o;
    }

    /// <summary>The internal tier of a supported public one.</summary>
    public static IsaTier Tier(ConvIsa isa)
    {
        SkipUnlessSupported(isa);
        return IsaTiers.Resolve(isa);
    }
}
