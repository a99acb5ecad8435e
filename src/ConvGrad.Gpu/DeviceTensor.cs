using ILGPU;
using ILGPU.Runtime;

namespace ConvGrad.Gpu;

/// <summary>
/// A float32 tensor in device memory (row-major, the same layouts as <see cref="Tensor{T}"/>). Copies between host
/// and device are explicit (<see cref="Upload(ReadOnlySpan{float})"/>, <see cref="Download(Span{float})"/>); dispose it to
/// free the device memory.
/// </summary>
public sealed class DeviceTensor : IDisposable
{
    private readonly int[] _shape;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _buffer;

    internal DeviceTensor(GpuDevice device, int[] shape)
    {
        foreach (int d in shape)
        {
            if (d < 1)
            {
                throw new ArgumentException($"shape sizes must all be >= 1; got {ShapeText.Format(shape)}", nameof(shape));
            }
        }
        long length = ShapeText.Product(shape);
        if (shape.Length == 0 || length > Tensor<float>.MaxLength)
        {
            throw new ArgumentException($"shape {ShapeText.Format(shape)} must have at least one axis and at most {Tensor<float>.MaxLength} elements", nameof(shape));
        }
        Device = device;
        _shape = (int[])shape.Clone();
        Length = length;
        _buffer = device.Accelerator.Allocate1D<float>(length);
    }

    /// <summary>The device this tensor lives on.</summary>
    public GpuDevice Device { get; }

    /// <summary>The shape, outermost axis first.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>Number of elements.</summary>
    public long Length { get; }

    /// <summary>Copies <paramref name="data"/> (exactly <see cref="Length"/> values) from the host to the device.</summary>
    /// <param name="data">The values, row-major; exactly <see cref="Length"/> of them.</param>
    public void Upload(ReadOnlySpan<float> data)
    {
        if (data.Length != Length)
        {
            throw new ArgumentException($"upload of {data.Length} values into a device tensor {ShapeText.Format(_shape)} of {Length} elements", nameof(data));
        }
        View.CopyFromCPU(data);
    }

    /// <summary>Copies the host tensor <paramref name="host"/>, which must have this tensor's shape, to the device.</summary>
    /// <param name="host">A host tensor of this tensor's shape.</param>
    public void Upload(Tensor<float> host)
    {
        ArgumentNullException.ThrowIfNull(host);
        ShapeText.Check(host.Shape, _shape, nameof(host), "this device tensor");
        Upload(host.ReadOnlySpan);
    }

    /// <summary>Waits for the device and copies the tensor into <paramref name="destination"/> (exactly <see cref="Length"/> values).</summary>
    /// <param name="destination">Receives exactly <see cref="Length"/> values, row-major.</param>
    public void Download(Span<float> destination)
    {
        if (destination.Length != Length)
        {
            throw new ArgumentException($"download of a device tensor {ShapeText.Format(_shape)} of {Length} elements into {destination.Length} values", nameof(destination));
        }
        Device.Synchronize();
        View.CopyToCPU(destination);
    }

    /// <summary>Waits for the device and copies the tensor into a new host tensor of the same shape.</summary>
    public Tensor<float> Download()
    {
        var host = Tensor<float>.Uninitialized(_shape);
        Download(host.Span);
        return host;
    }

    /// <summary>Frees the device memory.</summary>
    public void Dispose() => _buffer.Dispose();

    /// <inheritdoc/>
    public override string ToString() => $"DeviceTensor{ShapeText.Format(_shape)} on {Device.Kind}";

    internal ArrayView<float> View => _buffer.View;
}
