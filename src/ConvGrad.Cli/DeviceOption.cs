using System.CommandLine;
using ConvGrad.Distributed;
using ConvGrad.Gpu;

namespace ConvGrad.Cli;

/// <summary>
/// <c>--device cpu|cuda|ilgpu-cpu</c>, shared by the commands that run passes (verify, bench, train):
/// <c>cpu</c> keeps the CPU engines (chosen by <c>--engine</c>); <c>cuda</c> and <c>ilgpu-cpu</c> run the ILGPU kernels
/// through <see cref="GpuDevice.Options"/>. Parse it while reading the arguments, open the device once every option
/// is read and dispose what <see cref="Open"/> returns.
/// </summary>
internal sealed record DeviceOption(string Name)
{
    public const string Cpu = "cpu", Cuda = "cuda", IlgpuCpu = "ilgpu-cpu";

    /// <summary>The help text of <c>--device</c>.</summary>
    public const string Description =
        "cpu (the CPU engines), cuda (an NVIDIA GPU through ILGPU; needs only the driver) or ilgpu-cpu " +
        "(the same GPU kernels on ILGPU's CPU accelerator: slow, for testing without a GPU)";

    public static IReadOnlyList<string> Names { get; } = [Cpu, Cuda, IlgpuCpu];

    /// <summary>Whether this is a GPU device (cuda or ilgpu-cpu), which ignores the CPU engine and thread options.</summary>
    public bool IsGpu => Name != Cpu;

    /// <summary>Declares <c>--device</c> with its default (<c>cpu</c> for the commands that also run on the CPU).</summary>
    public static Option<string> Declare(string fallback = Cpu, string description = Description) =>
        CliOptions.Text("device", description, fallback, Names);

    /// <summary>Reads <c>--device</c>.</summary>
    public static DeviceOption Parse(ParseResult parsed, Option<string> option)
    {
        string name = parsed.GetValue(option)!;
        if (!Names.Contains(name))
        {
            throw new UsageException($"--device must be one of {string.Join(", ", Names)}; got '{name}'");
        }
        return new DeviceOption(name);
    }

    /// <summary>
    /// Opens the GPU device, or returns null for <c>cpu</c>. Without an NVIDIA driver or GPU, <c>cuda</c> throws
    /// <see cref="NotSupportedException"/>, which <c>Program</c> reports as one line.
    /// </summary>
    public GpuDevice? Open() => Open(0);

    /// <summary>
    /// Opens device <paramref name="index"/> of this kind (see <see cref="IndexFor"/>), or returns null for <c>cpu</c>.
    /// </summary>
    public GpuDevice? Open(int index) => Name switch
    {
        Cuda => GpuDevice.Cuda(index),
        IlgpuCpu => GpuDevice.CpuAccelerator(),
        _ => null,
    };

    /// <summary>
    /// The device a data-parallel rank takes: its local rank modulo the machine's device count
    /// (<see cref="Communicator.DeviceIndex"/>), so the ranks on a machine take its GPUs in turn. ILGPU's
    /// CPU accelerator is a single device, so every rank takes index 0 of it; <c>cpu</c> is 0.
    /// </summary>
    public int IndexFor(Communicator communicator)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        return Name switch
        {
            // Without a GPU Cuda(0) reports it in one line.
            Cuda => GpuDevice.CudaDeviceCount() is var count and > 0 ? communicator.DeviceIndex(count) : 0,
            IlgpuCpu => communicator.DeviceIndex(1),
            _ => 0,
        };
    }

    /// <summary>
    /// Which device each rank took, <c>rank 0 -> cuda:0, rank 1 -> cuda:1</c>: gathered by a sum, each rank filling its
    /// own slot (a collective: every rank calls it).
    /// </summary>
    public string PerRank(Communicator communicator, int index)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        var indices = new int[communicator.Size];
        indices[communicator.Rank] = index;
        communicator.AllReduceSum(indices.AsSpan());
        return string.Join(", ", indices.Select((d, r) => $"rank {r} -> {Name}:{d}"));
    }

    /// <summary>The options a pass runs with: the GPU device's, or <paramref name="cpu"/> when no device is open.</summary>
    public static ConvOptions Options(GpuDevice? device, ConvOptions cpu) => device?.Options ?? cpu;
}
