namespace ConvGrad;

/// <summary>
/// The kernel family the engine's planner gives a pass on a device backend (ConvGrad.Gpu asks
/// <see cref="ConvProblem.PlanDeviceKernel"/>, as the CPU paths ask the planner inside the core; a backend sizes its
/// launches, the planner chooses the kernel).
/// </summary>
public enum DeviceKernel
{
    /// <summary>
    /// <c>gpu-depthwise</c>: the direct depthwise kernels, one filter per channel: one thread per output element (forward)
    /// or input-gradient element (dX), one thread block per weight-gradient element with a fixed-order reduction (dW).
    /// </summary>
    Depthwise,

    /// <summary>
    /// <c>gpu-implicit-gemm</c>: the implicit GEMM of the pass: forward over gathered input windows, dX by the stride's
    /// filter phases, dW cut into fixed split-K slices summed in slice order.
    /// </summary>
    ImplicitGemm,
}
