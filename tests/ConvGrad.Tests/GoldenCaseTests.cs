using ConvGrad.Verification;

namespace ConvGrad.Tests;

/// <summary>Every bundled golden case (PyTorch float64) passes on every engine and every ISA tier of the fast engine, exactly for integer-valued cases.</summary>
public class GoldenCaseTests
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var f in TestPaths.GoldenFiles)
        {
            data.Add(Path.GetFileName(f));
        }
        return data;
    }

    public static TheoryData<string, ConvIsa> CasesByTier()
    {
        var data = new TheoryData<string, ConvIsa>();
        foreach (var isa in IsaTierCases.All)
        {
            foreach (var f in TestPaths.GoldenFiles)
            {
                data.Add(Path.GetFileName(f), isa);
            }
        }
        return data;
    }

    [Fact]
    public void AllBundledCasesArePresent() => Assert.Equal(278, TestPaths.GoldenFiles.Count());

    [Theory]
    [MemberData(nameof(Cases))]
    public void Case_PassesWithinGoldenTolerance_OnEveryEngine(string file)
    {
        var c = GoldenCase.Load(Path.Combine(TestPaths.GoldenDir, file));
        foreach (var engine in Enum.GetValues<ConvEngine>())
        {
            var r = GoldenCheck.Run(c, new ConvOptions { Engine = engine }, engine.ToString());
            Assert.True(r.Passed, $"{file} on {engine}: {r.Failure} {string.Join(", ", r.Errors.Select(e => $"{e.Tensor} {e.Relative:e2}"))}");
            if (c.IntegerValued)
            {
                Assert.All(r.Errors, e => Assert.Equal(0.0, e.MaxAbsError));
            }
        }
    }

    /// <summary>The fast engine capped at each tier (a tier this machine lacks is reported as skipped).</summary>
    [SkippableTheory]
    [MemberData(nameof(CasesByTier))]
    public void Case_PassesWithinGoldenTolerance_OnEveryIsaTier(string file, ConvIsa isa)
    {
        var options = IsaTierCases.Fast(isa, 2);
        var c = GoldenCase.Load(Path.Combine(TestPaths.GoldenDir, file));
        var r = GoldenCheck.Run(c, options, $"fast {isa}");
        Assert.True(r.Passed, $"{file} on fast {isa}: {r.Failure} {string.Join(", ", r.Errors.Select(e => $"{e.Tensor} {e.Relative:e2}"))}");
        if (c.IntegerValued)
        {
            Assert.All(r.Errors, e => Assert.Equal(0.0, e.MaxAbsError));
        }
    }

    /// <summary>
    /// The golden cases reach the direct blocked kernels behind the NCHW API on AVX2 (8-channel blocks), so the per-tier
    /// test above checks that path against PyTorch too, and the portable tier never takes it. The bundled cases have
    /// fewer than 8 input channels per group, so on AVX-512 (16-channel blocks) none does: there the property tests of
    /// FastEngineTests (tens of channels, against the float64 reference, integers exactly) cover the blocked path.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(Tiers))]
    public void Cases_ReachTheDirectBlockedKernel_OnVectorTiers(ConvIsa isa)
    {
        var tier = IsaTierCases.Tier(isa);
        int blocked = 0;
        foreach (var f in TestPaths.GoldenFiles)
        {
            var c = GoldenCase.Load(f);
            var p = c.Transposed
                ? ConvProblem.ForTranspose(c.Geometry, c.InputShape, c.KernelShape)
                : ConvProblem.ForConv(c.Geometry, c.InputShape, c.KernelShape);
            foreach (var pass in new[] { ConvPass.Forward, ConvPass.BackwardData, ConvPass.BackwardWeight })
            {
                blocked += Cpu.ConvPlanner.Plan(p, pass, tier, 2).Kernel is Cpu.ConvKernel.DirectBlocked or Cpu.ConvKernel.FirstLayer ? 1 : 0;
            }
        }
        if (tier == Cpu.IsaTier.Portable)
        {
            Assert.Equal(0, blocked);
        }
        else
        {
            Assert.True(blocked >= 3, $"only {blocked} golden passes take the direct blocked kernel on {tier}");
        }
    }

    public static TheoryData<ConvIsa> Tiers() => new() { ConvIsa.Avx2, ConvIsa.Portable };
}
