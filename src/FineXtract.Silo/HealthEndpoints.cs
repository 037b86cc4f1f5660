using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FineXtract.Silo;

/// <summary>
/// <c>/healthz</c>: liveness, local only (the process serves HTTP; no grain calls, no Redis).
/// <c>/healthz/ready</c>: this silo is an active member of the cluster and not shutting down.
/// </summary>
public static class HealthEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/healthz/ready", (IServiceProvider services) =>
        {
            var lifetime = services.GetRequiredService<IHostApplicationLifetime>();
            var membership = services.GetRequiredService<IClusterMembershipService>();
            var local = services.GetRequiredService<ILocalSiloDetails>();
            bool active = membership.CurrentSnapshot.GetSiloStatus(local.SiloAddress) == SiloStatus.Active;
            bool stopping = lifetime.ApplicationStopping.IsCancellationRequested;
            return active && !stopping
                ? Results.Text("ready")
                : Results.Text(stopping ? "stopping" : "joining", statusCode: StatusCodes.Status503ServiceUnavailable);
        });
    }
}
