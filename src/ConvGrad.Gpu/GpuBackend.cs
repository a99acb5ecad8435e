using ILGPU;
using ILGPU.Runtime;

namespace ConvGrad.Gpu;

/// <summary>
/// <see cref="IConvBackend"/> over a <see cref="GpuDevice"/>, so that <see cref="Conv"/>, <see cref="ConvTranspose"/>
/// and the golden-case checker run host tensors through the GPU kernels: each call copies its operands into the
/// device's reusable staging buffers, launches the pass and copies the result back.
/// </summary>
internal sealed class GpuBackend(GpuDevice device) : IConvBackend
{
    public GpuDevice Device => device;

    public void Forward(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, int threads)
    {
        lock (device.Gate)
        {
            var xv = Stage(ScratchSlot.In0, x);
            var wv = Stage(ScratchSlot.In1, w);
            ArrayView<float>? bv = b.IsEmpty ? null : Stage(ScratchSlot.Bias, b);
            var yv = device.Scratch(ScratchSlot.Out, y.Length);
            GpuPasses.Forward(device, p, xv, wv, bv, yv);
            Fetch(yv, y);
        }
    }

    public void BackwardData(ConvProblem p, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, int threads)
    {
        lock (device.Gate)
        {
            var dyv = Stage(ScratchSlot.In0, dy);
            var wv = Stage(ScratchSlot.In1, w);
            var dxv = device.Scratch(ScratchSlot.Out, dx.Length);
            GpuPasses.BackwardData(device, p, dyv, wv, dxv);
            Fetch(dxv, dx);
        }
    }

    public void BackwardWeight(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw, int threads)
    {
        lock (device.Gate)
        {
            var xv = Stage(ScratchSlot.In0, x);
            var dyv = Stage(ScratchSlot.In1, dy);
            var dwv = device.Scratch(ScratchSlot.Out, dw.Length);
            GpuPasses.BackwardWeight(device, p, xv, dyv, dwv);
            Fetch(dwv, dw);
        }
    }

    public long WorkspaceBytes(ConvProblem p, ConvPass pass, int threads) => GpuPasses.WorkspaceBytes(p, pass);

    public string Describe(ConvProblem p, ConvPass pass)
    {
        string where = $"on {device.Kind} ({device.Name})";
        if (p.PlanDeviceKernel(pass) == DeviceKernel.Depthwise)
        {
            return pass switch
            {
                ConvPass.Forward => $"Depthwise, so the GPU engine {where} runs a direct kernel, one thread per output element summing its taps: a GEMM would have a reduction of one channel.",
                ConvPass.BackwardData => $"Depthwise, so the GPU engine {where} runs a direct kernel, one thread per input-gradient element visiting only the taps of its filter phase.",
                _ => $"Depthwise, so the GPU engine {where} gives each weight-gradient element one thread block that sums its N·out products in a fixed order, then adds the thread sums in thread order: deterministic, no atomics.",
            };
        }
        return pass switch
        {
            ConvPass.Forward => $"The GPU engine {where} runs an implicit GEMM per group (M = N·out = {p.N * p.OutSpatial}, N = K/G = {p.Kg}, K = C/G·k = {p.Cg * p.KerSpatial}) in 64×64×8 shared-memory tiles, gathering input windows on the fly with zero fill for the padding.",
            ConvPass.BackwardData => $"The GPU engine {where} splits the input gradient into the {p.Strides[0] * p.Strides[1] * p.Strides[2]} filter phase(s) of the stride and runs each as a stride-1 implicit GEMM over its sub-kernel: no zero-inserted dY, every dX element written once, empty phases store zeros.",
            _ => $"The GPU engine {where} runs an implicit GEMM (M = K/G, N = C/G·k, reduction N·out = {p.N * p.OutSpatial}) cut into {GpuPasses.SplitK(p).Slices} fixed split-K slice(s) by shape, summed in slice order by a second kernel: deterministic, no float atomics.",
        };
    }

    private ArrayView<float> Stage(ScratchSlot slot, ReadOnlySpan<float> data)
    {
        var v = device.Scratch(slot, data.Length);
        v.CopyFromCPU(data);
        return v;
    }

    private void Fetch(ArrayView<float> view, Span<float> destination)
    {
        device.Synchronize();
        view.CopyToCPU(destination);
    }
}
