using ConvGrad.Gpu;

namespace ConvGrad.Tests.Gpu;

/// <summary>One ILGPU CPU accelerator shared by every GPU test (opening one and compiling its kernels is slow).</summary>
public sealed class CpuAcceleratorFixture : IDisposable
{
    public GpuDevice Device { get; } = GpuDevice.CpuAccelerator();

    public void Dispose() => Device.Dispose();
}

/// <summary>The GPU tests share one device and run one after another (the CPU accelerator already uses every core).</summary>
[CollectionDefinition(Name)]
public sealed class GpuCollection : ICollectionFixture<CpuAcceleratorFixture>
{
    public const string Name = "ILGPU CPU accelerator";
}
