using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ConvGrad.Cli.Explorer;

/// <summary>
/// The local web server of <c>convgrad explain --serve</c> (ASP.NET Core from the shared framework): the page at
/// <c>/</c> and its JSON endpoint at <c>/api/explain</c>. It listens on one address (loopback by default), keeps
/// requests small, and answers bad input with 400, never 500.
/// </summary>
internal static class ExplorerServer
{
    /// <summary>The port used when <c>--port</c> is not given.</summary>
    public const int DefaultPort = 5117;

    /// <summary>Starts serving on <paramref name="address"/>:<paramref name="port"/> (0: any free port) and returns the running app and its URL.</summary>
    /// <exception cref="UsageException">The port is in use.</exception>
    public static async Task<(WebApplication App, string Url)> StartAsync(IPAddress address, int port)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
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
        app.MapGet("/", (HttpContext c) => Page(c, ExplorerPage.Html(embeddedJson: null)));
        app.MapGet("/api/explain", (HttpContext c) =>
        {
            var (status, body) = ExplorerApi.Answer(c.Request.Query.Select(kv => new KeyValuePair<string, string>(kv.Key, kv.Value.ToString())));
            c.Response.Headers.CacheControl = "no-store";
            return Results.Text(body, "application/json; charset=utf-8", statusCode: status);
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
