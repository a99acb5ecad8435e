using System.Numerics;
using ConvGrad.Autograd;
using ConvGrad.Cpu.Pooling;

namespace ConvGrad.Nn;

/// <summary>
/// 2-D max pooling (<c>nn.MaxPool2d</c>) through <see cref="Functional.MaxPool2d{T}"/>: x <c>[N, C, H, W]</c>, stride
/// defaulting to the kernel; ties send the gradient to the first maximum in row-major order, as PyTorch's CPU kernel.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class MaxPool2d<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly PoolWindow _w;

    /// <summary>Creates the layer; stride defaults to the kernel size.</summary>
    /// <param name="kernel">The window size on both axes.</param>
    /// <param name="stride">The step on both axes; null means the kernel size.</param>
    /// <param name="padding">Padding on each side of both axes.</param>
    public MaxPool2d(int kernel, int? stride = null, int padding = 0) => _w = PoolWindow.Create(kernel, stride, padding);

    /// <inheritdoc />
    public override Variable<T> Forward(Variable<T> x) => Functional.MaxPool2d(x, _w.Kernel, _w.Stride, _w.Padding);
}

/// <summary>
/// 2-D average pooling (<c>nn.AvgPool2d</c>, count_include_pad on) through <see cref="Functional.AvgPool2d{T}"/>.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class AvgPool2d<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly PoolWindow _w;

    /// <summary>Creates the layer; stride defaults to the kernel size.</summary>
    /// <param name="kernel">The window size on both axes.</param>
    /// <param name="stride">The step on both axes; null means the kernel size.</param>
    /// <param name="padding">Padding on each side of both axes.</param>
    public AvgPool2d(int kernel, int? stride = null, int padding = 0) => _w = PoolWindow.Create(kernel, stride, padding);

    /// <inheritdoc />
    public override Variable<T> Forward(Variable<T> x) => Functional.AvgPool2d(x, _w.Kernel, _w.Stride, _w.Padding);
}

/// <summary>
/// Global average pooling (<c>nn.AdaptiveAvgPool2d(1)</c>): <c>[N, C, H, W] → [N, C, 1, 1]</c>, each plane's mean,
/// through <see cref="Functional.GlobalAvgPool{T}"/>.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class GlobalAvgPool2d<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override Variable<T> Forward(Variable<T> x)
    {
        CheckInput(x, 4, "GlobalAvgPool2d", "[N, C, H, W]");
        return Functional.GlobalAvgPool(x);
    }
}
