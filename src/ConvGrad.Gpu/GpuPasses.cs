using ConvGrad.Gpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace ConvGrad.Gpu;

/// <summary>
/// Launches the kernels of one pass of a resolved <see cref="ConvProblem"/> on device views whose lengths have been
/// checked. Which kernel runs is the engine planner's choice (<see cref="ConvProblem.PlanDeviceKernel"/>): the direct
/// depthwise kernels or the implicit GEMMs. Each launch records its kernel's name (<see cref="LastKernel"/>) on the
/// calling thread, so tests check that the plan is what ran. Callers hold <see cref="GpuDevice.Gate"/>.
/// </summary>
internal static class GpuPasses
{
    /// <summary>CTAs that fill an H100 twice (2 × 132 SMs): the split-K target for backward-weight.</summary>
    public const int TargetCtas = 264;

    /// <summary>Fewest reduction indices per split-K slice, so a slice amortises its partial store.</summary>
    public const int MinSliceLength = 256;

    /// <summary>Most split-K slices.</summary>
    public const int MaxSlices = 64;

    [ThreadStatic] private static string? t_lastKernel;

    /// <summary>The name of the kernel this thread last launched (null before any): what ran, for tests.</summary>
    public static string? LastKernel
    {
        get => t_lastKernel;
        set => t_lastKernel = value;
    }

    /// <summary>The name of a GPU kernel as <c>gpu-bench</c> and <see cref="LastKernel"/> give it.</summary>
    public static string Name(DeviceKernel kernel) => kernel switch
    {
        DeviceKernel.Depthwise => "gpu-depthwise",
        _ => "gpu-implicit-gemm",
    };

    /// <summary>The name of the kernel the planner gives <paramref name="pass"/> of <paramref name="p"/> on the GPU (for <c>gpu-bench</c>).</summary>
    public static string KernelName(ConvProblem p, ConvPass pass) => Name(p.PlanDeviceKernel(pass));

    /// <summary>The planner's kernel for <paramref name="pass"/> of <paramref name="p"/>, recorded as the one that runs.</summary>
    private static bool RunsDepthwise(ConvProblem p, ConvPass pass)
    {
        var kernel = p.PlanDeviceKernel(pass);
        t_lastKernel = Name(kernel);
        return kernel == DeviceKernel.Depthwise;
    }

    /// <summary>y = x ⋆ w (+ b): forward implicit GEMM, or the direct depthwise kernel.</summary>
    public static void Forward(GpuDevice dev, ConvProblem p, ArrayView<float> x, ArrayView<float> w, ArrayView<float>? b, ArrayView<float> y)
    {
        var k = dev.Kernels;
        var d = ConvDims.From(p);
        var win = SpecializedValue.New(new Window(p));
        var bias = b ?? dev.Empty;
        int hasBias = b is null ? 0 : 1;
        if (RunsDepthwise(p, ConvPass.Forward))
        {
            k.DepthwiseForward(p.N * p.K * p.OutSpatial, x, w, bias, y, d, win, hasBias);
            return;
        }
        var grid = Grid(Tiles(p.N * p.OutSpatial, GemmTile.BM), Tiles(p.Kg, GemmTile.BN), p.Groups);
        k.Forward(new KernelConfig(grid, new Index3D(GemmTile.Threads, 1, 1)), x, w, bias, y, d, win, hasBias);
    }

    /// <summary>dx = ∂L/∂x: backward-data by filter phases, or the direct depthwise kernel; every dx element written once.</summary>
    public static void BackwardData(GpuDevice dev, ConvProblem p, ArrayView<float> dy, ArrayView<float> w, ArrayView<float> dx)
    {
        var k = dev.Kernels;
        var d = ConvDims.From(p);
        var window = new Window(p);
        var win = SpecializedValue.New(window);
        if (RunsDepthwise(p, ConvPass.BackwardData))
        {
            k.DepthwiseBackwardData(p.N * p.C * p.InSpatial, dy, w, dx, d, win);
            return;
        }
        // Phase ρ = 0 has the most rows: ⌈in/s⌉ per axis.
        int rows = p.N * Ceil(p.InputSize[0], p.Strides[0]) * Ceil(p.InputSize[1], p.Strides[1]) * Ceil(p.InputSize[2], p.Strides[2]);
        var grid = Grid(Tiles(rows, GemmTile.BM), Tiles(p.Cg, GemmTile.BN), (long)p.Groups * window.Phases);
        k.BackwardData(new KernelConfig(grid, new Index3D(GemmTile.Threads, 1, 1)), dy, w, dx, d, win);
    }

    /// <summary>dw = ∂L/∂w: split-K implicit GEMM plus an ordered slice sum, or the depthwise fixed-order block reduction.</summary>
    public static void BackwardWeight(GpuDevice dev, ConvProblem p, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dw)
    {
        var k = dev.Kernels;
        var d = ConvDims.From(p);
        var win = SpecializedValue.New(new Window(p));
        if (RunsDepthwise(p, ConvPass.BackwardWeight))
        {
            k.DepthwiseBackwardWeight(new KernelConfig(new Index3D(p.K * p.KerSpatial, 1, 1), new Index3D(Depthwise.ReduceThreads, 1, 1)), x, dy, dw, d, win);
            return;
        }
        var (slices, chunk) = SplitK(p);
        int len = p.K * p.Cg * p.KerSpatial;
        var grid = Grid(Tiles(p.Kg, GemmTile.BM), Tiles(p.Cg * p.KerSpatial, GemmTile.BN), (long)p.Groups * slices);
        var config = new KernelConfig(grid, new Index3D(GemmTile.Threads, 1, 1));
        if (slices == 1)
        {
            k.BackwardWeight(config, x, dy, dw, d, win, chunk);
            return;
        }
        var partial = dev.Scratch(ScratchSlot.SplitK, (long)slices * len);
        k.BackwardWeight(config, x, dy, partial, d, win, chunk);
        k.ReduceSlices(len, partial, dw, len, slices);
    }

    /// <summary>db[k] = Σ_b Σ_o dy[b, k, o] with a fixed-order block reduction per channel.</summary>
    public static void BackwardBias(GpuDevice dev, int n, int channels, int spatial, ArrayView<float> dy, ArrayView<float> db) =>
        dev.Kernels.ChannelSum(new KernelConfig(new Index3D(channels, 1, 1), new Index3D(Depthwise.ReduceThreads, 1, 1)), dy, db, n, channels, spatial);

    /// <summary>y[b, c, ·] += bias[c] (the transposed convolution's bias).</summary>
    public static void AddBias(GpuDevice dev, int n, int channels, int spatial, ArrayView<float> y, ArrayView<float> bias) =>
        dev.Kernels.AddBias(n * channels * spatial, y, bias, channels, spatial);

    /// <summary>
    /// The split-K schedule of backward-weight, a pure function of the shape (never of timing or device):
    /// enough slices to give about <see cref="TargetCtas"/> CTAs, each slice at least <see cref="MinSliceLength"/>
    /// reduction indices (a multiple of the tile depth), at most <see cref="MaxSlices"/>.
    /// </summary>
    public static (int Slices, int Chunk) SplitK(ConvProblem p)
    {
        int total = p.N * p.OutSpatial;
        long tiles = (long)Tiles(p.Kg, GemmTile.BM) * Tiles(p.Cg * p.KerSpatial, GemmTile.BN) * p.Groups;
        int slices = (int)Math.Clamp((TargetCtas + tiles - 1) / tiles, 1, MaxSlices);
        slices = Math.Min(slices, Math.Max(1, MaxGridYZ / p.Groups)); // groups × slices is the grid's z extent
        slices = Math.Min(slices, Math.Max(1, total / MinSliceLength));
        int chunk = Ceil(Ceil(total, slices), GemmTile.BK) * GemmTile.BK;
        return (Ceil(total, chunk), chunk);
    }

    /// <summary>Device scratch bytes one call of <paramref name="pass"/> needs beyond its operands.</summary>
    public static long WorkspaceBytes(ConvProblem p, ConvPass pass)
    {
        if (pass != ConvPass.BackwardWeight || p.PlanDeviceKernel(pass) == DeviceKernel.Depthwise)
        {
            return 0;
        }
        var (slices, _) = SplitK(p);
        return slices == 1 ? 0 : (long)slices * p.K * p.Cg * p.KerSpatial * sizeof(float);
    }

    /// <summary>CUDA's limit on a grid's y and z extents.</summary>
    public const int MaxGridYZ = 65535;

    /// <summary>A launch grid, refused with a clear message where CUDA could not launch it.</summary>
    private static Index3D Grid(int x, int y, long z)
    {
        if (y > MaxGridYZ || z > MaxGridYZ)
        {
            throw new NotSupportedException(
                $"the GPU kernels cannot launch a grid of {x}×{y}×{z} CTAs (CUDA allows at most {MaxGridYZ} in y and z); " +
                "this problem has too many groups × filter phases or channels for the GPU backend");
        }
        return new Index3D(x, y, (int)z);
    }

    private static int Tiles(int n, int tile) => (n + tile - 1) / tile;

    private static int Ceil(int a, int b) => (a + b - 1) / b;
}
