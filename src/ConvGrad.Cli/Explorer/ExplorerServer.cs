using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ConvGrad.Cli.Explorer;

/// <summary>
/// The local web server of <c>convgrad explain --serve</c> (ASP.NET Core from the shared framework): the page at
/// <c>/</c> and its JSON endpoint at <c>/api/explain</c>. It listens on one address (loopback by default), keeps
/// requests small, answers bad input with 400, never 500, derives at most one geometry per processor at once, each on its own
/// thread (the rest wait without holding a thread, so memory stays bounded and the thread pool free under load), and stops within half a second of being told to (<see cref="Stop"/>).
/// </summary>
internal static class ExplorerServer
{
    /// <summary>The port used when <c>--port</c> is not given.</summary>
    public const int DefaultPort = 5117;

    /// <summary>How long a stop waits for requests in flight before the server closes their connections.</summary>
    public static readonly TimeSpan ShutdownTimeout = TimeSpan.FromMilliseconds(300);

    /// <summary>Starts serving on <paramref name="address"/>:<paramref name="port"/> (0: any free port) and returns the running app and its URL.</summary>
    /// <exception cref="UsageException">The port is in use.</exception>
    public static async Task<(WebApplication App, string Url)> StartAsync(IPAddress address, int port)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
        // The caller owns the process's signals (convgrad explain --serve stops on SIGTERM and Ctrl+C; a test stops
        // its server itself), so the host installs no console lifetime of its own.
        builder.Services.AddSingleton<IHostLifetime, CallerLifetime>();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestLineSize = 4096;
            k.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            k.Limits.MaxRequestBodySize = 0;
            k.Limits.MaxConcurrentConnections = 64;
            k.Listen(address, port);
        });
        var app = builder.Build();
        string page = ExplorerPage.Html(embeddedJson: null);
        var gate = new SemaphoreSlim(Environment.ProcessorCount);
        app.MapGet("/", (HttpContext c) => Page(c, page));
        app.MapGet("/api/explain", async (HttpContext c) =>
        {
            var query = c.Request.Query.Select(kv => new KeyValuePair<string, string>(kv.Key, kv.Value.ToString())).ToList();
            await gate.WaitAsync(c.RequestAborted).ConfigureAwait(false);
            (int Status, string Body) answer;
            try
            {
                // A derivation is CPU work of up to tens of milliseconds: it runs on its own thread, so that the
                // thread pool stays free to accept connections and answer the cheap requests meanwhile.
                answer = await Task.Factory.StartNew(() => ExplorerApi.Answer(query), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)
                    .ConfigureAwait(false);
            }
            finally
            {
                gate.Release();
            }
            c.Response.Headers.CacheControl = "no-store";
            return Results.Text(answer.Body, "application/json; charset=utf-8", statusCode: answer.Status);
        });
        try
        {
            await app.StartAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (IsAddressInUse(e))
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new UsageException($"port {port} on {address} is in use; choose another with --port N (0 picks a free one)");
        }
        string url = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return (app, url.TrimEnd('/') + "/");
    }

    /// <summary>
    /// Stops serving: no new connections, requests in flight get <see cref="ShutdownTimeout"/> to finish. Returns
    /// after at most that long even when a derivation is still running (it cannot be interrupted), so that a process
    /// stopping its server can end at once.
    /// </summary>
    public static void Stop(WebApplication app)
    {
        var stopping = app.StopAsync();
        if (!stopping.Wait(ShutdownTimeout + TimeSpan.FromMilliseconds(100)))
        {
            _ = stopping.ContinueWith(t => t.Exception, TaskScheduler.Default);
        }
    }

    /// <summary>A host lifetime that leaves starting and stopping to the caller.</summary>
    private sealed class CallerLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private static IResult Page(HttpContext c, string html)
    {
        c.Response.Headers.ContentSecurityPolicy = ExplorerPage.ContentSecurityPolicy;
        c.Response.Headers.CacheControl = "no-store";
        return Results.Text(html, "text/html; charset=utf-8");
    }

    private static bool IsAddressInUse(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is AddressInUseException)
            {
                return true;
            }
        }
        return false;
    }
}
