using ConvGrad.Gpu.Kernels;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace ConvGrad.Gpu;

/// <summary>
/// One ILGPU accelerator with the convolution kernels compiled for it: an NVIDIA GPU through CUDA (only the NVIDIA
/// driver is needed; ILGPU generates PTX itself), or ILGPU's CPU accelerator, which runs the very same kernels on
/// CPU threads (slow, for tests without a GPU). Dispose it to release the device and its buffers.
/// </summary>
/// <remarks>
/// Device memory is explicit: <see cref="Allocate"/> and <see cref="Upload"/> create <see cref="DeviceTensor"/>s
/// that <see cref="GpuConv"/> and <see cref="GpuConvTranspose"/> work on. The only memory a pass allocates itself is
/// the split-K workspace of backward-weight, kept per device and grown only when a larger problem needs it.
/// Calls on one device are serialised.
/// </remarks>
public sealed class GpuDevice : IDisposable
{
    /// <summary>Threads per multiprocessor of the CPU accelerator: one CTA of the GEMM kernels.</summary>
    private const int CpuThreadsPerGroup = GemmTile.Threads;

    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly MemoryBuffer1D<float, Stride1D.Dense>?[] _scratch = new MemoryBuffer1D<float, Stride1D.Dense>?[(int)ScratchSlot.Count];
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _empty;
    private GpuKernels? _kernels;
    private bool _disposed;

    private GpuDevice(Context context, Accelerator accelerator, string kind)
    {
        _context = context;
        _accelerator = accelerator;
        Kind = kind;
        _empty = accelerator.Allocate1D<float>(1);
        Options = new ConvOptions { Backend = new GpuBackend(this) };
    }

    /// <summary>
    /// Opens CUDA device <paramref name="index"/> (0 = the first GPU).
    /// </summary>
    /// <param name="index">The CUDA device number, 0-based.</param>
    /// <exception cref="NotSupportedException">No NVIDIA driver or no CUDA device with that index is present.</exception>
    public static GpuDevice Cuda(int index = 0)
    {
        if (index < 0)
        {
            throw new ArgumentException($"index must be >= 0; got {index}", nameof(index));
        }
        Context context;
        try
        {
            context = Context.Create(b => b.Cuda().Optimize(OptimizationLevel.O2));
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException or InvalidOperationException)
        {
            throw new NotSupportedException($"CUDA is not available: the NVIDIA driver (libcuda) could not be loaded ({e.Message})", e);
        }
        try
        {
            var devices = context.GetCudaDevices();
            if (devices.Count == 0)
            {
                throw new NotSupportedException("no CUDA device found: this machine has no NVIDIA GPU or its driver (libcuda) is not installed; use --device ilgpu-cpu or cpu");
            }
            if (index >= devices.Count)
            {
                throw new NotSupportedException($"no CUDA device {index}: only {devices.Count} found");
            }
            var accelerator = devices[index].CreateAccelerator(context);
            return new GpuDevice(context, accelerator, "cuda");
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The number of CUDA devices this process can open (0 without an NVIDIA driver or GPU): a data-parallel rank
    /// picks <c>Cuda(localRank mod count)</c> among them.
    /// </summary>
    public static int CudaDeviceCount()
    {
        try
        {
            using var context = Context.Create(b => b.Cuda());
            return context.GetCudaDevices().Count;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException or InvalidOperationException)
        {
            return 0;
        }
    }

    /// <summary>
    /// Opens ILGPU's CPU accelerator: the GPU kernels, barriers and shared memory emulated on CPU threads. Results
    /// agree with CUDA up to float rounding of the same summation order; it is slow and meant for tests.
    /// </summary>
    public static GpuDevice CpuAccelerator()
    {
        var context = Context.Create(b => b.CPU(new CPUDevice(4, CpuThreadsPerGroup / 4, 1)).Optimize(OptimizationLevel.O1));
        try
        {
            var accelerator = context.GetCPUDevice(0).CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel);
            return new GpuDevice(context, accelerator, "ilgpu-cpu");
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary><c>cuda</c> or <c>ilgpu-cpu</c>.</summary>
    public string Kind { get; }

    /// <summary>The accelerator's name as reported by the driver (e.g. <c>NVIDIA H100 80GB HBM3</c>).</summary>
    public string Name => _accelerator.Name;

    /// <summary>Device memory in bytes.</summary>
    public long MemoryBytes => _accelerator.MemorySize;

    /// <summary>
    /// Options that route the float32 passes of <see cref="Conv"/> and <see cref="ConvTranspose"/> on host tensors
    /// through this device: each call uploads its operands, runs the kernels and downloads the result (staging
    /// buffers are reused across calls). For work that stays on the device use <see cref="GpuConv"/>.
    /// </summary>
    public ConvOptions Options { get; }

    /// <summary>Allocates an uninitialised device tensor of the given shape.</summary>
    /// <param name="shape">The size of each axis; every size must be at least 1.</param>
    public DeviceTensor Allocate(params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return new DeviceTensor(this, shape);
    }

    /// <summary>Allocates a device tensor shaped like <paramref name="host"/> and copies it to the device.</summary>
    /// <param name="host">The host tensor to copy.</param>
    public DeviceTensor Upload(Tensor<float> host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var t = new DeviceTensor(this, host.Shape.ToArray());
        t.Upload(host.ReadOnlySpan);
        return t;
    }

    /// <summary>Waits until every kernel launched on this device has finished.</summary>
    public void Synchronize()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _accelerator.Synchronize();
    }

    /// <summary>Releases the buffers, the kernels and the accelerator.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        foreach (var b in _scratch)
        {
            b?.Dispose();
        }
        _empty.Dispose();
        _accelerator.Dispose();
        _context.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Kind}: {Name}";

    internal Lock Gate { get; } = new();

    internal Accelerator Accelerator
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _accelerator;
        }
    }

    /// <summary>The kernels, compiled (and cached) on first use.</summary>
    internal GpuKernels Kernels => _kernels ??= new GpuKernels(Accelerator);

    /// <summary>A one-element buffer passed where a kernel takes an optional view (no bias).</summary>
    internal ArrayView<float> Empty => _empty.View;

    /// <summary>A reusable device buffer of at least <paramref name="length"/> floats for <paramref name="slot"/> (grown, never shrunk).</summary>
    internal ArrayView<float> Scratch(ScratchSlot slot, long length)
    {
        ref var buffer = ref _scratch[(int)slot];
        if (buffer is null || buffer.Length < length)
        {
            buffer?.Dispose();
            buffer = Accelerator.Allocate1D<float>(Math.Max(length, 1));
        }
        return ((ArrayView<float>)buffer.View).SubView(0, length);
    }

    /// <summary>Bytes held by the reusable buffers.</summary>
    internal long ScratchBytes => _scratch.Sum(b => b?.LengthInBytes ?? 0);
}

/// <summary>The reusable device buffers of one <see cref="GpuDevice"/>.</summary>
internal enum ScratchSlot
{
    /// <summary>Split-K partial sums of backward-weight.</summary>
    SplitK,
    /// <summary>Host-path staging: first operand.</summary>
    In0,
    /// <summary>Host-path staging: second operand.</summary>
    In1,
    /// <summary>Host-path staging: bias.</summary>
    Bias,
    /// <summary>Host-path staging: result.</summary>
    Out,
    Count,
}
