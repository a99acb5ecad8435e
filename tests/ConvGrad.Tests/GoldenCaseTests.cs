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
}
