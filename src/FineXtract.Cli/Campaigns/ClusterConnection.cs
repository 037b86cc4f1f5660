using FineXtract.Silo;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using StackExchange.Redis;

namespace FineXtract.Cli.Campaigns;

/// <summary>An Orleans client of the cluster registered in Redis (<c>--cluster CONN</c>, the silos' <c>--redis</c>).</summary>
public sealed class ClusterConnection : IAsyncDisposable
{
    private readonly IHost _host;

    private ClusterConnection(IHost host) => _host = host;

    public IClusterClient Client => _host.Services.GetRequiredService<IClusterClient>();

    public static async Task<ClusterConnection> ConnectAsync(string redis, string clusterId, string serviceId, CancellationToken cancel)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        var options = ConfigurationOptions.Parse(redis);
        options.AbortOnConnectFail = false;
        builder.UseOrleansClient(client =>
        {
            client.UseRedisClustering(o => o.ConfigurationOptions = options);
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = clusterId;
                o.ServiceId = serviceId;
            });
            client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5));
            client.AddFineXtractClient();
        });
        var host = builder.Build();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            timeout.CancelAfter(TimeSpan.FromSeconds(60));
            await host.StartAsync(timeout.Token);
        }
        catch (Exception e) when (e is not FineXtractException)
        {
            host.Dispose();
            throw new FineXtractException($"cannot reach the cluster '{clusterId}' through Redis {redis}: {e.Message}");
        }
        var connection = new ClusterConnection(host);
        await connection.WaitForTypesAsync(cancel);
        return connection;
    }

    /// <summary>The client learns grain types from the gateway's cluster manifest; wait until the campaign grain is known.</summary>
    private async Task WaitForTypesAsync(CancellationToken cancel)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                Client.GetGrain<Grains.ICampaignGrain>("probe");
                return;
            }
            catch (ArgumentException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(250, cancel);
            }
            catch (ArgumentException)
            {
                throw new FineXtractException("no silo of the cluster hosts campaigns (start one with --role control or all)");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _host.StopAsync(TimeSpan.FromSeconds(5));
        }
        finally
        {
            _host.Dispose();
        }
    }
}
