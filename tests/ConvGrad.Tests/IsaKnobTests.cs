using System.Diagnostics;
using ConvGrad.Cpu;

namespace ConvGrad.Tests;

/// <summary>
/// The runtime's own ISA knobs lower the tier for a whole process: the CLI, started as a child process with
/// <c>DOTNET_EnableAVX512=0</c> (the .NET 10 name; <c>DOTNET_EnableAVX512F</c> is set too for older runtimes) or
/// <c>DOTNET_EnableAVX2=0</c>, reports the lower tier and still passes all golden cases.
/// </summary>
public class IsaKnobTests
{
    [SkippableTheory]
    [InlineData("avx512-off", ConvIsa.Avx2)]
    [InlineData("avx2-off", ConvIsa.Portable)]
    public void Cli_UnderRuntimeKnob_ReportsTheLowerTier_AndPassesTheGoldenCases(string knob, ConvIsa expectedCap)
    {
        var env = knob == "avx512-off"
            ? new Dictionary<string, string> { ["DOTNET_EnableAVX512"] = "0", ["DOTNET_EnableAVX512F"] = "0" }
            : new Dictionary<string, string> { ["DOTNET_EnableAVX2"] = "0" };
        // The tier the child must land on: the knob's tier, or lower where this machine has less.
        var expected = IsaTiers.ToPublic(IsaTiers.Resolve(expectedCap));
        Skip.If(expected == IsaTiers.ToPublic(IsaTiers.Best) && expectedCap != expected,
            $"this machine's widest tier is already {expected}: the knob has nothing to lower");
        var (code, stdout, stderr) = RunCli(env, "verify", TestPaths.GoldenDir, "--engine", "fast");
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        var lines = stdout.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal($"isa {expected.ToString().ToLowerInvariant()}", lines[0]);
        Assert.Equal("278 passed, 0 failed", lines[^1]);
    }

    /// <summary>Runs the test build's ConvGrad.Cli.dll under <c>dotnet</c> with extra environment variables.</summary>
    private static (int Code, string Out, string Err) RunCli(IReadOnlyDictionary<string, string> env, params string[] args)
    {
        string cli = typeof(ConvGrad.Cli.Program).Assembly.Location;
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(cli);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }
        using var p = Process.Start(psi)!;
        var stderrTask = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, stderrTask.Result);
    }
}
