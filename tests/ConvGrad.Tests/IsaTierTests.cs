using ConvGrad.Cpu;

namespace ConvGrad.Tests;

/// <summary>The ISA cap of <see cref="ConvOptions"/>: resolution against the machine, and validation.</summary>
public class IsaTierTests
{
    [Fact]
    public void Cap_NeverRaisesTheTier_AndAutoIsTheMachinesWidest()
    {
        var best = IsaTiers.ToPublic(IsaTiers.Best);
        Assert.Equal(best, new ConvOptions().EffectiveIsa);
        Assert.Equal(best, new ConvOptions { MaxIsa = ConvIsa.Auto }.EffectiveIsa);
        Assert.Equal(ConvIsa.Portable, new ConvOptions { MaxIsa = ConvIsa.Portable }.EffectiveIsa);
        // Tiers ordered narrowest first: a cap gives min(cap, best).
        foreach (var cap in IsaTierCases.All)
        {
            var tier = IsaTiers.Resolve(cap);
            Assert.True(tier <= IsaTiers.Best);
            Assert.True(tier <= IsaTiers.Resolve(ConvIsa.Avx512));
            Assert.Equal(IsaTiers.Supports(cap), IsaTiers.ToPublic(tier) == cap);
        }
        Assert.True(IsaTiers.Resolve(ConvIsa.Portable) <= IsaTiers.Resolve(ConvIsa.Avx2));
    }

    [Fact]
    public void Cap_OutOfRange_IsRefusedNamingTheParameter()
    {
        var e = Assert.Throws<ArgumentException>(() => new ConvOptions { MaxIsa = (ConvIsa)17 });
        Assert.Equal("MaxIsa", e.ParamName);
        Assert.Contains("17", e.Message, StringComparison.Ordinal);
    }

    /// <summary>The engine the options select runs on the resolved tier.</summary>
    [SkippableTheory]
    [MemberData(nameof(Tiers))]
    public void Backend_ForCappedOptions_RunsOnThatTier(ConvIsa isa)
    {
        var options = IsaTierCases.Fast(isa, 1);
        var backend = Assert.IsType<FastBackend>(Backends.For(options));
        Assert.Equal(IsaTiers.Resolve(isa), backend.Tier);
    }

    public static TheoryData<ConvIsa> Tiers() => IsaTierCases.Data();
}
