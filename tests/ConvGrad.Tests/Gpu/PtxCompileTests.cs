using System.Reflection;
using ConvGrad.Gpu.Kernels;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Xunit.Abstractions;

namespace ConvGrad.Tests.Gpu;

/// <summary>
/// Every kernel compiles to PTX for an H100 (SM 9.0, PTX ISA 8.8) without a GPU, so CUDA-only compile failures show
/// up in CI; and the GEMM kernels keep their accumulators in registers (no <c>.local</c> memory in the PTX).
/// </summary>
public class PtxCompileTests(ITestOutputHelper output)
{
    public static TheoryData<string> Kernels() =>
    [
        nameof(ForwardImplicitGemm), nameof(BackwardDataByPhases), nameof(BackwardWeightSplitK),
        "ReduceSlices", "DepthwiseForward", "DepthwiseBackwardData", "DepthwiseBackwardWeight", "ChannelSum", "AddBias",
    ];

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Kernel_CompilesToPtxForSm90(string name)
    {
        var (method, explicitGroups) = name switch
        {
            nameof(ForwardImplicitGemm) => (M(typeof(ForwardImplicitGemm), "Kernel"), true),
            nameof(BackwardDataByPhases) => (M(typeof(BackwardDataByPhases), "Kernel"), true),
            nameof(BackwardWeightSplitK) => (M(typeof(BackwardWeightSplitK), "Kernel"), true),
            "ReduceSlices" => (M(typeof(BackwardWeightSplitK), "ReduceSlices"), false),
            "DepthwiseForward" => (M(typeof(Depthwise), "Forward"), false),
            "DepthwiseBackwardData" => (M(typeof(Depthwise), "BackwardData"), false),
            "DepthwiseBackwardWeight" => (M(typeof(Depthwise), "BackwardWeight"), true),
            "ChannelSum" => (M(typeof(Reductions), "ChannelSum"), true),
            _ => (M(typeof(Reductions), "AddBias"), false),
        };
        using var context = Context.Create(b => b.Optimize(OptimizationLevel.O2));
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90, CudaInstructionSet.ISA_88, null!);
        var entry = explicitGroups ? EntryPointDescription.FromExplicitlyGroupedKernel(method) : EntryPointDescription.FromImplicitlyGroupedKernel(method);
        var compiled = (PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty);
        string ptx = compiled.PTXAssembly;
        Assert.Contains(".entry", ptx, StringComparison.Ordinal);
        int lines = ptx.Split('\n').Length;
        output.WriteLine($"{name}: {lines} PTX lines, .local: {ptx.Contains(".local", StringComparison.Ordinal)}");
        if (name.EndsWith("Gemm", StringComparison.Ordinal) || name.EndsWith("Phases", StringComparison.Ordinal) || name.EndsWith("SplitK", StringComparison.Ordinal))
        {
            Assert.DoesNotContain(".local", ptx, StringComparison.Ordinal);
        }
    }

    private static MethodInfo M(Type t, string name) =>
        t.GetMethod(name, BindingFlags.Public | BindingFlags.Static) ?? throw new InvalidOperationException($"{t.Name}.{name} not found");
}
