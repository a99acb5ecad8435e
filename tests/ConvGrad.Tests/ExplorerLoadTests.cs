using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace ConvGrad.Tests;

/// <summary>
/// <c>convgrad explain --serve</c> as a separate process on a free loopback port, under load: 2,048 requests from 16
/// concurrent clients mixing good, bad and over-limit geometries (and the page itself), bounded in count and time. Only
/// 200 and 400 come back, never a 500 or a reset; the server's resident memory stays flat after warm-up; the
/// latencies are reported (p50, p99), never asserted. SIGTERM stops the server within a second, idle or under load.
/// </summary>
public partial class ExplorerLoadTests(ITestOutputHelper output)
{
    private const int Clients = 16;
    private const int RequestsPerClient = 128;

    /// <summary>How long the whole load may take before the test gives up (a bound, not a measurement).</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(4);

    private const string SkipReason = "needs Linux (/proc for the server's memory, kill for SIGTERM)";

    /// <summary>Good geometries (200), including channels, groups, batch, 1-D, dilation and the 0-based page.</summary>
    private static readonly string[] Good =
    [
        "input=4x4&kernel=2x2&stride=2",
        "input=5x5&kernel=3x3&stride=2&padding=1",
        "input=8&kernel=3&stride=2&padding=1,2",
        "input=4x4&kernel=2x2&stride=2&channels=2&out-channels=2",
        "input=6x6&kernel=2x2&dilation=2",
        "input=4x4&kernel=2x2&stride=2&base=0",
        "input=3x3&kernel=2x2&channels=4&out-channels=2&groups=2&batch=2",
    ];

    /// <summary>Invalid geometries and queries (400).</summary>
    private static readonly string[] Bad =
    [
        "input=3x3&kernel=5x5",
        "input=4x4&kernel=2x2&stride=0",
        "input=4xa&kernel=2x2",
        "input=4x4&kernel=2x2&strde=2",
        "input=4x4&kernel=2x2&channels=3&groups=2",
        "input=4x4&kernel=2x2&base=7",
    ];

    /// <summary>Valid geometries beyond the limits (400, with what the page can show instead).</summary>
    private static readonly string[] OverLimit =
    [
        "input=64x64&kernel=7x7&stride=2",
        "input=12x12&kernel=7x7&padding=6",
        "input=5000x5000&kernel=3x3",
        "input=4x4&kernel=2x2&channels=9",
        "input=6x6&kernel=3x3&channels=8&out-channels=8&batch=4",
        "input=3x3x3&kernel=2x2x2",
    ];

    [SkippableFact]
    public async Task ManyConcurrentClients_Only200Or400_FlatMemory_ThenSigtermStopsWithinOneSecond()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), SkipReason);
        using var server = await ServerProcess.StartAsync();
        var deadline = new CancellationTokenSource(Bound);
        var statuses = new int[Clients * RequestsPerClient];
        var ms = new double[statuses.Length];
        var kinds = new char[statuses.Length];
        var failures = new List<string>();
        var rss = new List<long>();
        int done = 0;
        // The memory is sampled after every 256 requests; the first samples are the warm-up.
        var clients = Enumerable.Range(0, Clients).Select(c => Task.Run(async () =>
        {
            using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromMinutes(1) };
            for (int r = 0; r < RequestsPerClient; r++)
            {
                int i = c * RequestsPerClient + r;
                var (kind, path) = Request(i);
                kinds[i] = kind;
                var clock = Stopwatch.StartNew();
                try
                {
                    using var response = await http.GetAsync(server.Url + path, deadline.Token);
                    _ = await response.Content.ReadAsByteArrayAsync(deadline.Token);
                    statuses[i] = (int)response.StatusCode;
                }
                catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
                {
                    lock (failures)
                    {
                        failures.Add($"{path}: {e.GetType().Name}: {e.Message}");
                    }
                }
                ms[i] = clock.Elapsed.TotalMilliseconds;
                if (Interlocked.Increment(ref done) % 256 == 0)
                {
                    lock (rss)
                    {
                        rss.Add(server.ResidentBytes());
                    }
                }
            }
        })).ToArray();
        await Task.WhenAll(clients);

        Assert.True(failures.Count == 0, $"{failures.Count} requests failed (reset, timeout or refused), e.g. " + string.Join("; ", failures.Take(3)));
        Assert.Equal(Clients * RequestsPerClient, statuses.Length);
        for (int i = 0; i < statuses.Length; i++)
        {
            int expected = kinds[i] is 'g' or 'p' ? 200 : 400;
            Assert.True(statuses[i] == expected, $"request {i} ({Request(i).Path}) answered {statuses[i]}, expected {expected}");
        }

        // Flat after warm-up: the largest resident size of the second half of the run is within 25% (+16 MiB for the
        // GC's own growth) of the largest of the first half after the first two samples.
        Assert.True(rss.Count >= 6, $"only {rss.Count} memory samples");
        var warm = rss.Skip(2).ToList();
        long firstHalf = warm.Take(warm.Count / 2).Max(), secondHalf = warm.Skip(warm.Count / 2).Max();
        output.WriteLine("server resident memory (MiB) every 256 requests: " + string.Join(", ", rss.Select(b => (b >> 20).ToString(CultureInfo.InvariantCulture))));
        Assert.True(secondHalf <= firstHalf * 5 / 4 + (16L << 20), $"memory grew after warm-up: {firstHalf >> 20} MiB then {secondHalf >> 20} MiB");

        Report("all", Enumerable.Range(0, ms.Length).Select(i => ms[i]));
        foreach (var (kind, name) in new[] { ('g', "good"), ('b', "bad"), ('o', "over-limit"), ('p', "page") })
        {
            Report(name, Enumerable.Range(0, ms.Length).Where(i => kinds[i] == kind).Select(i => ms[i]));
        }

        // SIGTERM on the idle server: it exits, with exit code 0, within one second.
        var stopped = server.Terminate();
        output.WriteLine($"SIGTERM to exit (idle): {stopped.TotalMilliseconds:0} ms");
        Assert.True(stopped <= TimeSpan.FromSeconds(1), $"the server took {stopped.TotalMilliseconds:0} ms to stop after SIGTERM");
        Assert.Equal(0, server.ExitCode);
    }

    /// <summary>
    /// SIGTERM while derivations are in flight: the server gives them <see cref="ConvGrad.Cli.Explorer.ExplorerServer.ShutdownTimeout"/>
    /// and ends without waiting for the rest. Four clients keep one derivation per core busy; more would only measure
    /// how long the test's own load delays the process's exit on a 2-core machine.
    /// </summary>
    [SkippableFact]
    public async Task SigtermWithDerivationsInFlight_StopsWithinOneSecond()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), SkipReason);
        using var server = await ServerProcess.StartAsync();
        using var stop = new CancellationTokenSource(Bound);
        int answered = 0;
        var clients = Enumerable.Range(0, 4).Select(c => Task.Run(async () =>
        {
            using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromMinutes(1) };
            for (int r = 0; !stop.IsCancellationRequested; r++)
            {
                try
                {
                    using var response = await http.GetAsync(server.Url + "api/explain?" + Good[(c + r) % Good.Length], stop.Token);
                    Interlocked.Increment(ref answered);
                }
                catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
                {
                    // After SIGTERM the server refuses or closes connections: that is the point.
                    return;
                }
            }
        })).ToArray();
        while (Volatile.Read(ref answered) < 8)
        {
            await Task.Delay(20);
        }
        var stopped = server.Terminate();
        await stop.CancelAsync();
        await Task.WhenAll(clients);
        output.WriteLine($"SIGTERM to exit (derivations in flight, {answered} answers before): {stopped.TotalMilliseconds:0} ms");
        Assert.True(stopped <= TimeSpan.FromSeconds(1), $"the server took {stopped.TotalMilliseconds:0} ms to stop after SIGTERM with derivations in flight");
        Assert.Equal(0, server.ExitCode);
    }

    /// <summary>Request <paramref name="i"/>: 'g' good, 'b' bad, 'o' over-limit, 'p' the page; good ones with varying seeds so no two are alike.</summary>
    private static (char Kind, string Path) Request(int i) => (i % 16) switch
    {
        < 7 => ('g', $"api/explain?{Good[(i / 16 + i) % Good.Length]}&seed={i % 97}"),
        < 10 => ('b', "api/explain?" + Bad[(i / 16 + i) % Bad.Length]),
        < 15 => ('o', "api/explain?" + OverLimit[(i / 16 + i) % OverLimit.Length]),
        _ => ('p', "?input=4x4&kernel=2x2&stride=2"),
    };

    private void Report(string name, IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return;
        }
        double P(double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"latency {name,-10} n={sorted.Length,5}  p50 {P(0.5),8:0.0} ms  p99 {P(0.99),8:0.0} ms  max {sorted[^1],8:0.0} ms"));
    }

    /// <summary><c>convgrad explain --serve --port 0</c> started from the test build's ConvGrad.Cli.dll.</summary>
    private sealed partial class ServerProcess : IDisposable
    {
        private readonly Process _process;

        private ServerProcess(Process process, string url)
        {
            _process = process;
            Url = url;
        }

        /// <summary>The server's base URL, ending in '/'.</summary>
        public string Url { get; }

        public int ExitCode => _process.ExitCode;

        public static async Task<ServerProcess> StartAsync()
        {
            var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var a in new[] { typeof(ConvGrad.Cli.Program).Assembly.Location, "explain", "--serve", "--port", "0" })
            {
                psi.ArgumentList.Add(a);
            }
            var process = Process.Start(psi)!;
            process.ErrorDataReceived += (_, _) => { };
            process.BeginErrorReadLine();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            string? line = await process.StandardOutput.ReadLineAsync(timeout.Token);
            var match = line is null ? null : UrlPattern().Match(line);
            if (match is null || !match.Success)
            {
                process.Kill();
                throw new InvalidOperationException($"the server did not announce its URL; it printed '{line}'");
            }
            return new ServerProcess(process, match.Groups[1].Value);
        }

        /// <summary>The server's resident memory (VmRSS), in bytes.</summary>
        public long ResidentBytes()
        {
            foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
                }
            }
            throw new InvalidOperationException("no VmRSS in /proc/PID/status");
        }

        /// <summary>Sends SIGTERM and returns how long the process took to exit (waiting at most 30 s).</summary>
        public TimeSpan Terminate()
        {
            var clock = Stopwatch.StartNew();
            if (Kill(_process.Id, SigTerm) != 0)
            {
                throw new InvalidOperationException($"kill({_process.Id}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
            }
            bool exited = _process.WaitForExit(TimeSpan.FromSeconds(30));
            var took = clock.Elapsed;
            return exited ? took : TimeSpan.MaxValue;
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit();
            }
            _process.Dispose();
        }

        private const int SigTerm = 15;

        [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static partial int Kill(int pid, int signal);

        [GeneratedRegex(@"at (http://127\.0\.0\.1:\d+/)")]
        private static partial Regex UrlPattern();
    }
}
