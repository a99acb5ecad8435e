using ConvGrad.Gpu;

namespace ConvGrad.Tests.Gpu;

/// <summary>
/// The GPU backend runs the kernel the engine's planner names (<see cref="ConvProblem.PlanDeviceKernel"/>): every pass of a
/// dense, strided, grouped, 1×1 and depthwise problem (one and two filters per channel) runs on the ILGPU CPU
/// accelerator, and the kernel each launch recorded is the plan's.
/// </summary>
[Collection(GpuCollection.Name)]
[Trait("Category", GpuCollection.Trait)]
public class GpuPlanTests(CpuAcceleratorFixture fixture)
{
    public static TheoryData<string, int, int, int, int, int, int> Problems => new()
    {
        // name, C, K, kernel, stride, padding, groups
        { "dense 3x3", 4, 6, 3, 1, 1, 1 },
        { "strided 3x3", 4, 6, 3, 2, 1, 1 },
        { "grouped", 4, 6, 3, 1, 1, 2 },
        { "1x1", 8, 4, 1, 1, 0, 1 },
        { "depthwise", 8, 8, 3, 1, 1, 8 },
        { "depthwise strided", 8, 8, 3, 2, 1, 8 },
        { "depthwise x2", 4, 8, 3, 1, 1, 4 },
    };

    [Theory]
    [MemberData(nameof(Problems))]
    public void EveryPass_RunsThePlannedKernel(string name, int c, int k, int r, int stride, int padding, int groups)
    {
        var g = new ConvGeometry([stride, stride], [padding, padding], [padding, padding], [1, 1], groups);
        int[] xShape = [2, c, 7, 7], wShape = [k, c / groups, r, r];
        var p = ConvProblem.ForConv(g, xShape, wShape);
        var dev = fixture.Device;
        using var x = dev.Upload(Tensor<float>.Zeros(xShape));
        using var w = dev.Upload(Tensor<float>.Zeros(wShape));
        using var y = dev.Allocate(p.OutputShape);
        using var dx = dev.Allocate(xShape);
        using var dw = dev.Allocate(wShape);

        GpuPasses.LastKernel = null;
        GpuConv.Forward(x, w, null, g, y);
        Assert.Equal(GpuPasses.KernelName(p, ConvPass.Forward), GpuPasses.LastKernel);
        GpuPasses.LastKernel = null;
        GpuConv.BackwardData(y, w, g, dx);
        Assert.Equal(GpuPasses.KernelName(p, ConvPass.BackwardData), GpuPasses.LastKernel);
        GpuPasses.LastKernel = null;
        GpuConv.BackwardWeight(x, y, g, dw);
        Assert.Equal(GpuPasses.KernelName(p, ConvPass.BackwardWeight), GpuPasses.LastKernel);

        // The one definition of depthwise on ConvProblem decides: one filter per channel takes the direct kernels.
        string expected = p.IsDepthwise && p.ChannelMultiplier == 1 ? "gpu-depthwise" : "gpu-implicit-gemm";
        Assert.All([ConvPass.Forward, ConvPass.BackwardData, ConvPass.BackwardWeight],
            pass => Assert.Equal(expected, GpuPasses.KernelName(p, pass)));
        Assert.False(string.IsNullOrEmpty(name));
    }
}
