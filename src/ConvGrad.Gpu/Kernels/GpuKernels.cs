using ILGPU;
using ILGPU.Runtime;

namespace ConvGrad.Gpu.Kernels;

/// <summary>
/// The compiled kernels of one accelerator, loaded once per device. ILGPU compiles each distinct
/// <see cref="Window"/> specialisation on first use and caches it inside the loaded delegate.
/// </summary>
internal sealed class GpuKernels
{
    public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvDims, SpecializedValue<Window>, int> Forward;
    public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvDims, SpecializedValue<Window>> BackwardData;
    public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvDims, SpecializedValue<Window>, int> BackwardWeight;
    public readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int, int> ReduceSlices;
    public readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvDims, SpecializedValue<Window>, int> DepthwiseForward;
    public readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvDims, SpecializedValue<Window>> DepthwiseBackwardData;
    public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvDims, SpecializedValue<Window>> DepthwiseBackwardWeight;
    public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int> ChannelSum;
    public readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int, int> AddBias;

    public GpuKernels(Accelerator a)
    {
        Forward = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvDims, SpecializedValue<Window>, int>(ForwardImplicitGemm.Kernel);
        BackwardData = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvDims, SpecializedValue<Window>>(BackwardDataByPhases.Kernel);
        BackwardWeight = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvDims, SpecializedValue<Window>, int>(BackwardWeightSplitK.Kernel);
        ReduceSlices = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(BackwardWeightSplitK.ReduceSlices);
        DepthwiseForward = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvDims, SpecializedValue<Window>, int>(Depthwise.Forward);
        DepthwiseBackwardData = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvDims, SpecializedValue<Window>>(Depthwise.BackwardData);
        DepthwiseBackwardWeight = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvDims, SpecializedValue<Window>>(Depthwise.BackwardWeight);
        ChannelSum = a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int>(Reductions.ChannelSum);
        AddBias = a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(Reductions.AddBias);
    }
}
