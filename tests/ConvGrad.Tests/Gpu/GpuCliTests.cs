using ConvGrad.Cli;

namespace ConvGrad.Tests.Gpu;

/// <summary><c>convgrad verify --device</c>: the GPU kernels through the same checker, and one-line errors.</summary>
[Collection(GpuCollection.Name)]
[Trait("Category", GpuCollection.Trait)]
public class GpuCliTests
{
    [Fact]
    public void Verify_OnIlgpuCpu_PassesAFolderOfCases()
    {
        string dir = Directory.CreateTempSubdirectory("convgrad-gpu-verify").FullName;
        try
        {
            foreach (var f in TestPaths.GoldenFiles.Where(f => Path.GetFileName(f).StartsWith("convT2d-00", StringComparison.Ordinal)).Take(3))
            {
                File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
            }
            var (code, stdout, _) = Run("verify", dir, "--device", "ilgpu-cpu");
            Assert.Equal(0, code);
            Assert.Contains("3 passed, 0 failed", stdout, StringComparison.Ordinal);
            Assert.Contains("device ilgpu-cpu", stdout, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Bench_OnIlgpuCpu_TimesEveryPassThroughTheGpuKernels()
    {
        var (code, stdout, stderr) = Run("bench", "--device", "ilgpu-cpu", "--only", "seed-4x4-k2-s2", "--min-time", "0", "--format", "csv");
        Assert.True(code == 0, stderr);
        Assert.Contains("ilgpu-cpu", stderr, StringComparison.Ordinal);
        var rows = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToList();
        Assert.Equal(6, rows.Count); // fwd, dx, dw for the row and its stride-1 twin
    }

    [Fact]
    public void Verify_UnknownDevice_IsAUsageError()
    {
        var (code, _, stderr) = Run("verify", TestPaths.GoldenDir, "--device", "tpu");
        Assert.Equal(2, code);
        Assert.Contains("--device must be one of cpu, cuda, ilgpu-cpu", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_EngineWithGpuDevice_IsAUsageError()
    {
        var (code, _, stderr) = Run("verify", TestPaths.GoldenDir, "--device", "ilgpu-cpu", "--engine", "reference");
        Assert.Equal(2, code);
        Assert.Contains("--engine", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_Cuda_WithoutGpu_FailsWithOneLine()
    {
        string dir = Directory.CreateTempSubdirectory("convgrad-gpu-verify").FullName;
        try
        {
            File.Copy(TestPaths.GoldenFiles.First(), Path.Combine(dir, "case.json"));
            var (code, _, stderr) = Run("verify", dir, "--device", "cuda");
            if (code == 2)
            {
                Assert.Contains("CUDA", stderr, StringComparison.Ordinal);
                Assert.Single(stderr.Trim().Split('\n'));
            }
            else
            {
                Assert.Equal(0, code); // a machine with a GPU: the case must pass
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    internal static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        int code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }
}
