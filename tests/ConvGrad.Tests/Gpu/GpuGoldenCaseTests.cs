using System.Diagnostics;
using ConvGrad.Verification;
using Xunit.Abstractions;

namespace ConvGrad.Tests.Gpu;

/// <summary>Every bundled golden case passes through the GPU kernels on ILGPU's CPU accelerator, within the golden tolerance.</summary>
[Collection(GpuCollection.Name)]
public class GpuGoldenCaseTests(CpuAcceleratorFixture fixture, ITestOutputHelper output)
{
    public static TheoryData<string> Cases() => GoldenCaseTests.Cases();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Case_PassesWithinGoldenTolerance_OnGpuKernels(string file)
    {
        var c = GoldenCase.Load(Path.Combine(TestPaths.GoldenDir, file));
        var clock = Stopwatch.StartNew();
        var r = GoldenCheck.Run(c, fixture.Device.Options, fixture.Device.Kind);
        output.WriteLine($"{file}: {clock.ElapsedMilliseconds} ms");
        Assert.True(r.Passed, $"{file} on {fixture.Device.Kind}: {r.Failure} {string.Join(", ", r.Errors.Select(e => $"{e.Tensor} {e.Relative:e2}"))}");
        if (c.IntegerValued)
        {
            Assert.All(r.Errors, e => Assert.Equal(0.0, e.MaxAbsError));
        }
    }
}
