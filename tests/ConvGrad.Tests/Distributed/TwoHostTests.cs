using System.Diagnostics;
using System.Security.Cryptography;
using ConvGrad.Data;

namespace ConvGrad.Tests.Distributed;

/// <summary>
/// <c>convgrad train --distributed</c> across two "hosts" on one machine: two network namespaces joined by a veth pair
/// (scripts/netns-hosts.sh, TEST-NET-1 addresses), mpirun started in the first and launching into the second through
/// an rsh agent that enters it (scripts/netns-rsh), TCP between them. Checks: 2 hosts x 1 rank give weights bitwise
/// equal to 2 ranks on one host; killing the remote rank ends the job non-zero within 30 s; cutting the link mid-run
/// ends the job (the collective timeout names the collective and the step). Every test tears its namespaces down.
/// Skipped with the reason where namespaces cannot be made (not root, no iproute2) or Open MPI is missing.
/// </summary>
public sealed class TwoHostTests : IDisposable
{
    private static int s_pairs;
    private readonly DirectoryInfo _dir = Cli.TempDir();

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>A small LeNet run: batch 32 (16 per rank), 1 thread per rank.</summary>
    private static readonly string[] Recipe = ["--model", "lenet", "--batch-size", "32", "--threads", "1", "--lr", "0.02"];

    /// <summary>
    /// The launch the docs give for two machines, with the hosts' addresses: TCP only, on the hosts' network for both
    /// MPI's data and mpirun's control connections. (The namespaces give up on an unanswered TCP connection after 5
    /// retransmissions, about 13 s, as docs/distributed.md advises for a cluster's hosts.)
    /// </summary>
    private static string MpiOptions(string hostfile) =>
        $"--allow-run-as-root --hostfile {hostfile} -np 2 --mca plm_rsh_agent {Path.Combine(TestPaths.RepoRoot, "scripts", "netns-rsh")} " +
        "--mca btl tcp,self --mca btl_tcp_if_include 192.0.2.0/24 --mca oob_tcp_if_include 192.0.2.0/24";

    private string Out(string name) => Path.Combine(_dir.FullName, name);

    private static string WeightsDigest(string outDir) =>
        Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(Path.Combine(outDir, "lenet.safetensors"))));

    private static string CliDll
    {
        get
        {
            string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
            string path = Path.Combine(TestPaths.RepoRoot, "src", "ConvGrad.Cli", "bin", configuration, "net10.0", "ConvGrad.Cli.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException($"the CLI is not built: {path}");
        }
    }

    /// <summary>Why two namespaces cannot be made here, or null.</summary>
    private static string? Unavailable()
    {
        if (MpiJob.Unavailable is not null)
        {
            return MpiJob.Unavailable;
        }
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess)
        {
            return "network namespaces need root on Linux";
        }
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);
        return path.Concat(["/usr/sbin", "/sbin"]).Any(d => File.Exists(Path.Combine(d, "ip")))
            ? null
            : "iproute2 is not installed (apt-get install iproute2)";
    }

    /// <summary>Two namespaces joined by a veth pair, torn down (with every process left in them) on dispose.</summary>
    private sealed class HostPair : IDisposable
    {
        public readonly string Prefix;
        public readonly string Hostfile;

        private HostPair(string prefix, string hostfile) => (Prefix, Hostfile) = (prefix, hostfile);

        /// <summary>The pair, or null with the reason they cannot be made.</summary>
        public static HostPair? Create(string dir, out string? reason)
        {
            string prefix = $"cg{Environment.ProcessId % 100_000}x{Interlocked.Increment(ref s_pairs)}";
            var up = Script("up", prefix);
            if (up.ExitCode != 0)
            {
                Script("down", prefix);
                reason = $"cannot make network namespaces here: {up.Err.Trim()}";
                return null;
            }
            string hostfile = Path.Combine(dir, "hosts");
            File.WriteAllLines(hostfile, ["192.0.2.1 slots=1", "192.0.2.2 slots=1"]);
            reason = null;
            return new HostPair(prefix, hostfile);
        }

        public string First => $"{Prefix}-a";

        public MpiJob.Result Script(string command) => Script(command, Prefix);

        public void Dispose()
        {
            var down = Script("down", Prefix);
            Assert.True(down.ExitCode == 0, down.ToString());
        }

        private static MpiJob.Result Script(string command, string prefix) =>
            MpiJob.Start("bash", $"{Path.Combine(TestPaths.RepoRoot, "scripts", "netns-hosts.sh")} {command} {prefix}", 60, null);
    }

    /// <summary>2 epochs of 320 digits (10 steps each).</summary>
    private static string TrainArguments(string outDir, int epochs = 2, int digits = 320, string extra = "") =>
        $"{MpiJob.Dotnet} {CliDll} train {string.Join(' ', Recipe)} --train-limit {digits} --epochs {epochs} --distributed --out {outDir} {extra}";

    /// <summary>
    /// A run that cannot end before the strike: 1,280 digits (40 steps per epoch, about a second on a quiet machine)
    /// for 30 epochs; the strike comes right after the first epoch's checkpoint, and the job ends soon after it.
    /// </summary>
    private static string LongTrainArguments(string outDir, string extra) =>
        TrainArguments(outDir, 30, 1280, extra);

    [SkippableFact]
    public void TwoHosts_GiveTheWeightsOfTwoRanksOnOneHost_Bitwise()
    {
        Skip.If(Unavailable() is not null, Unavailable());
        using var hosts = HostPair.Create(_dir.FullName, out string? reason);
        Skip.If(hosts is null, reason);

        var two = MpiJob.Start("ip", $"netns exec {hosts.First} mpirun {MpiOptions(hosts.Hostfile)} {TrainArguments(Out("two-hosts"))}", 300, null);
        Assert.True(two.ExitCode == 0, two.ToString());
        Assert.Contains("data parallel: 2 ranks", two.Out, StringComparison.Ordinal);

        var one = MpiJob.Start("mpirun", $"--allow-run-as-root --oversubscribe -np 2 {TrainArguments(Out("one-host"))}", 300, null);
        Assert.True(one.ExitCode == 0, one.ToString());
        Assert.Equal(WeightsDigest(Out("one-host")), WeightsDigest(Out("two-hosts")));
    }

    [SkippableFact]
    public void KillingTheRemoteRank_EndsTheJobNonZero_Within30Seconds()
    {
        Skip.If(Unavailable() is not null, Unavailable());
        using var hosts = HostPair.Create(_dir.FullName, out string? reason);
        Skip.If(hosts is null, reason);
        string outDir = Out("killed");
        var (exitCode, seconds, err) = RunAndStrike(hosts, outDir, () =>
        {
            // The remote rank: the training process in the second namespace.
            var inRemote = hosts.Script("pids");
            var victims = inRemote.Out.Split('\n').Where(l => l.StartsWith($"{hosts.Prefix}-b ", StringComparison.Ordinal) && l.Contains("ConvGrad.Cli.dll", StringComparison.Ordinal))
                .Select(l => int.Parse(l.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.True(victims.Count == 1, $"the processes in the namespaces:\n{inRemote.Out}");
            using var victim = Process.GetProcessById(victims[0]);
            victim.Kill();
        }, "--collective-timeout 10");
        Assert.True(exitCode != 0, $"exit {exitCode}\n{err}");
        Assert.True(seconds < 30, $"the job took {seconds:F1} s to end after the remote rank was killed");
        Assert.False(File.Exists(Path.Combine(outDir, "lenet.safetensors")), "the run finished before the kill");
    }

    [SkippableFact]
    public void CuttingTheLink_EndsTheJob_WithOneLineNamingTheCollectiveAndTheStep()
    {
        Skip.If(Unavailable() is not null, Unavailable());
        using var hosts = HostPair.Create(_dir.FullName, out string? reason);
        Skip.If(hosts is null, reason);
        string outDir = Out("cut");
        var (exitCode, seconds, err) = RunAndStrike(hosts, outDir, () =>
        {
            var cut = hosts.Script("cut");
            Assert.True(cut.ExitCode == 0, cut.ToString());
        }, "--collective-timeout 10");
        Assert.True(exitCode != 0, $"exit {exitCode}\n{err}");
        // Rank 0's collective times out (10 s) and it ends; mpirun then tells the other host's daemon to stop its rank,
        // over the dead link, and gives up once TCP does (5 retransmissions, about 13 s).
        var line = Assert.Single(err.Split('\n'), l => l.StartsWith("convgrad train: rank 0: ", StringComparison.Ordinal));
        Assert.Matches(@"MPI_I\w+( of [\d,]+ (floats|doubles|ints|longs|bytes)( from rank \d+)?)? did not complete within 10 s at step \d+", line);
        Assert.True(seconds < 120, $"the job took {seconds:F1} s to end after the cut");
        Assert.False(File.Exists(Path.Combine(outDir, "lenet.safetensors")), "the run finished before the cut");
        Assert.Equal(1, Checkpoint.Load(outDir, "convgrad-lenet", ConvGrad.Nn.ImageClassifiers.Create("lenet", new Random(1), ConvGrad.Nn.ImageClassifiers.Digits, 10).State()).Epoch);
    }

    /// <summary>
    /// Starts a long run across the hosts, calls <paramref name="strike"/> once the epoch-1 checkpoint is written,
    /// and returns the job's exit code, the seconds it took to end after the strike, and its stderr.
    /// </summary>
    private static (int ExitCode, double Seconds, string Err) RunAndStrike(HostPair hosts, string outDir, Action strike, string extra = "")
    {
        using var job = MpiJob.Launch("ip", $"netns exec {hosts.First} mpirun {MpiOptions(hosts.Hostfile)} {LongTrainArguments(outDir, extra)}");
        var stdout = job.StandardOutput.ReadToEndAsync();
        var stderr = job.StandardError.ReadToEndAsync();
        try
        {
            var limit = Stopwatch.StartNew();
            while (!File.Exists(Path.Combine(outDir, "checkpoint.json")) && !job.HasExited && limit.Elapsed.TotalSeconds < 240)
            {
                Thread.Sleep(10);
            }
            if (job.HasExited)
            {
                Assert.Fail($"the job ended before its first checkpoint: exit {job.ExitCode}\n{stderr.Result}");
            }
            Assert.False(File.Exists(Path.Combine(outDir, "lenet.safetensors")), $"the run ended after {limit.Elapsed.TotalSeconds:F1} s, before the strike");
            strike();
            var after = Stopwatch.StartNew();
            Assert.True(job.WaitForExit(TimeSpan.FromSeconds(180)), "the job hung after the strike");
            double seconds = after.Elapsed.TotalSeconds;
            // The other host's daemon, cut off, may outlive mpirun (on a real cluster it ends when its own TCP gives
            // up) and hold the job's output open: end it before reading the output.
            var down = hosts.Script("down");
            Assert.True(down.ExitCode == 0, down.ToString());
            Assert.True(stdout.Wait(TimeSpan.FromSeconds(60)) && stderr.Wait(TimeSpan.FromSeconds(60)), "the job's output stayed open");
            return (job.ExitCode, seconds, stderr.Result + stdout.Result);
        }
        finally
        {
            if (!job.HasExited)
            {
                job.Kill(entireProcessTree: true);
            }
        }
    }
}
