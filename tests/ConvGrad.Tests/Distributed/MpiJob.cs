using System.Diagnostics;

namespace ConvGrad.Tests.Distributed;

/// <summary>Starts the test driver (tests/ConvGrad.MpiDriver) under Open MPI's mpirun, or alone, with a time limit.</summary>
internal static class MpiJob
{
    /// <summary>Why multi-rank tests cannot run here, or null when mpirun and libmpi.so.40 are present.</summary>
    public static string? Unavailable { get; } = FindUnavailable();

    /// <summary>The driver's assembly, built with the tests (same configuration).</summary>
    public static string Driver
    {
        get
        {
            string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
            string path = Path.Combine(TestPaths.RepoRoot, "tests", "ConvGrad.MpiDriver", "bin", configuration, "net10.0", "ConvGrad.MpiDriver.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException($"the MPI test driver is not built: {path}");
        }
    }

    public sealed record Result(int ExitCode, string Out, string Err, bool TimedOut, double Seconds)
    {
        public override string ToString() => $"exit {ExitCode}{(TimedOut ? " (timed out)" : "")} after {Seconds:F1} s\nstdout:\n{Out}\nstderr:\n{Err}";
    }

    /// <summary>Runs the driver in <paramref name="ranks"/> ranks; <paramref name="mpiOptions"/> go to mpirun (e.g. <c>--mca btl tcp,self</c>).</summary>
    public static Result Run(int ranks, string mpiOptions, string driverArguments, int timeoutSeconds = 120) =>
        Start("mpirun", $"--allow-run-as-root --oversubscribe -np {ranks} {mpiOptions} {Dotnet} {Driver} {driverArguments}", timeoutSeconds, null);

    /// <summary>Runs the driver as a plain process with extra environment variables.</summary>
    public static Result RunAlone(string driverArguments, IReadOnlyDictionary<string, string> environment, int timeoutSeconds = 60) =>
        Start(Dotnet, $"{Driver} {driverArguments}", timeoutSeconds, environment);

    public static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    public static Result Start(string program, string arguments, int timeoutSeconds, IReadOnlyDictionary<string, string>? environment)
    {
        var info = new ProcessStartInfo(program, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // A test run under mpirun itself must not make the driver think it is part of that job.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("OMPI_", StringComparison.Ordinal) || k.StartsWith("PMIX_", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[k] = v;
        }
        var sw = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        bool exited = process.WaitForExit(TimeSpan.FromSeconds(timeoutSeconds));
        if (!exited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        return new Result(exited ? process.ExitCode : -1, stdout.Result, stderr.Result, !exited, sw.Elapsed.TotalSeconds);
    }

    /// <summary>Starts <paramref name="program"/> without waiting (the caller waits, and kills it on failure).</summary>
    public static Process Launch(string program, string arguments)
    {
        var info = new ProcessStartInfo(program, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("OMPI_", StringComparison.Ordinal) || k.StartsWith("PMIX_", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }
        return Process.Start(info) ?? throw new InvalidOperationException($"cannot start {program}");
    }

    /// <summary>
    /// The process ids of rank <paramref name="rank"/> of the jobs whose command line contains <paramref name="marker"/>
    /// (read from /proc: the rank is in the environment mpirun gave the process).
    /// </summary>
    public static List<int> RankProcesses(string marker, int rank)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid))
            {
                continue;
            }
            try
            {
                string cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (!cmdline.Contains(marker, StringComparison.Ordinal) || cmdline.Contains("mpirun", StringComparison.Ordinal))
                {
                    continue;
                }
                var environment = File.ReadAllText(Path.Combine(dir, "environ")).Split('\0');
                if (environment.Contains($"OMPI_COMM_WORLD_RANK={rank}"))
                {
                    found.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile, or another user's.
            }
        }
        return found;
    }

    private static string? FindUnavailable()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);
        if (!path.Any(d => File.Exists(Path.Combine(d, "mpirun"))))
        {
            return "mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)";
        }
        if (!System.Runtime.InteropServices.NativeLibrary.TryLoad("libmpi.so.40", out nint handle))
        {
            return "libmpi.so.40 is not installed (apt-get install openmpi-bin libopenmpi-dev)";
        }
        System.Runtime.InteropServices.NativeLibrary.Free(handle);
        return null;
    }
}
