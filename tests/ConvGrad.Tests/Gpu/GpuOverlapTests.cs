using ConvGrad.Gpu;

namespace ConvGrad.Tests.Gpu;

/// <summary>
/// The device passes refuse an output that is one of their inputs (a device tensor is one whole buffer, so that is
/// the only way to overlap), naming both parameters; runs on the ILGPU CPU accelerator, so no GPU is needed.
/// </summary>
[Collection(GpuCollection.Name)]
[Trait("Category", GpuCollection.Trait)]
public class GpuOverlapTests(CpuAcceleratorFixture fixture)
{
    private GpuDevice Device => fixture.Device;

    private static readonly ConvGeometry Same = ConvGeometry.Uniform(2, padding: 1);

    public static TheoryData<string, string> Cases => new()
    {
        { "GpuConv.Forward", "x" }, { "GpuConv.Forward", "w" },
        { "GpuConv.BackwardData", "dy" }, { "GpuConv.BackwardData", "w" },
        { "GpuConv.BackwardWeight", "x" }, { "GpuConv.BackwardWeight", "dy" },
        { "GpuConvTranspose.Forward", "x" }, { "GpuConvTranspose.Forward", "w" },
        { "GpuConvTranspose.BackwardData", "dy" }, { "GpuConvTranspose.BackwardData", "w" },
        { "GpuConvTranspose.BackwardWeight", "x" }, { "GpuConvTranspose.BackwardWeight", "dy" },
        { "GpuConv.BackwardBias", "dy" },
    };

    /// <summary>Every operand has shape [4, 4, 3, 3] (bias and db: [4]), so the output can be any input.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void OutputIsAnInput_Throws(string pass, string input)
    {
        using var a = Device.Allocate(4, 4, 3, 3);
        using var b = Device.Allocate(4, 4, 3, 3);
        using var db = Device.Allocate(4);
        // a plays the aliased input and the output; b plays the other input.
        var (action, output) = pass switch
        {
            "GpuConv.Forward" => ((Action)(() => GpuConv.Forward(input == "x" ? a : b, input == "w" ? a : b, null, Same, a)), "y"),
            "GpuConv.BackwardData" => (() => GpuConv.BackwardData(input == "dy" ? a : b, input == "w" ? a : b, Same, a), "dx"),
            "GpuConv.BackwardWeight" => (() => GpuConv.BackwardWeight(input == "x" ? a : b, input == "dy" ? a : b, Same, a), "dw"),
            "GpuConvTranspose.Forward" => (() => GpuConvTranspose.Forward(input == "x" ? a : b, input == "w" ? a : b, null, Same, a), "y"),
            "GpuConvTranspose.BackwardData" => (() => GpuConvTranspose.BackwardData(input == "dy" ? a : b, input == "w" ? a : b, Same, a), "dx"),
            "GpuConvTranspose.BackwardWeight" => (() => GpuConvTranspose.BackwardWeight(input == "x" ? a : b, input == "dy" ? a : b, Same, a), "dw"),
            _ => (() => GpuConv.BackwardBias(db, db), "db"),
        };
        var e = Assert.Throws<ArgumentException>(action);
        Assert.Equal(output, e.ParamName);
        Assert.Contains($"is the same tensor as {input};", e.Message);
    }
}
