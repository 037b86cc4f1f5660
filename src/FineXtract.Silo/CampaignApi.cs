using System.Security.Cryptography;
using System.Text;
using FineXtract.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace FineXtract.Silo;

/// <summary>The key the campaign API wants; with none configured every write is refused (no anonymous writes).</summary>
public sealed record ApiKey(string? Value)
{
    public const string Header = "X-Api-Key";

    public bool Accepts(HttpRequest request)
    {
        if (Value is null) return false;
        string? given = request.Headers[Header].FirstOrDefault();
        if (given is null && request.Headers.Authorization.FirstOrDefault() is { } auth && auth.StartsWith("Bearer ", StringComparison.Ordinal))
            given = auth[7..];
        return given is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(Value));
    }
}

/// <summary>
/// A small HTTP API over campaigns. Every route needs the API key (header <c>X-Api-Key</c> or a bearer token); a
/// silo started without <c>--api-key</c> answers 403 to all of them.
/// <list type="bullet">
/// <item><c>POST /api/campaigns</c> {id?, name?, checkpoints: [...], parameters: {...}} → 201 with the status</item>
/// <item><c>GET /api/campaigns/{id}</c>, <c>GET /api/campaigns/{id}/checkpoints?offset=&amp;count=</c>, <c>GET /api/campaigns/{id}/report</c></item>
/// <item><c>POST /api/campaigns/{id}/cancel</c></item>
/// </list>
/// </summary>
public static class CampaignApi
{
    public sealed record SubmitRequest(string? Id, string? Name, List<CheckpointEntry> Checkpoints, CampaignParameters? Parameters);

    public static void Map(WebApplication app)
    {
        var api = app.MapGroup("/api/campaigns").AddEndpointFilter(async (context, next) =>
        {
            var key = context.HttpContext.RequestServices.GetRequiredService<ApiKey>();
            if (key.Value is null) return Results.Problem("the campaign API is disabled: start the silo with --api-key", statusCode: 403);
            if (!key.Accepts(context.HttpContext.Request)) return Results.Problem("missing or wrong API key", statusCode: 401);
            return await next(context);
        });

        api.MapPost("/", async (SubmitRequest body, IGrainFactory grains) =>
        {
            string id = body.Id ?? CampaignIds.New();
            if (!ManifestIds.IsValid(id)) return Results.Problem($"campaign id '{id}' is not valid", statusCode: 400);
            try
            {
                var status = await grains.GetGrain<ICampaignGrain>(id).Submit(new CampaignSubmission(body.Checkpoints ?? [], body.Parameters ?? new(), body.Name));
                return Results.Created($"/api/campaigns/{id}", status);
            }
            catch (FineXtractException e)
            {
                return Results.Problem(e.Message, statusCode: 400);
            }
        });
        api.MapGet("/{id}", async (string id, IGrainFactory grains) =>
            await grains.GetGrain<ICampaignGrain>(id).GetStatus() is { } s ? Results.Ok(s) : Results.NotFound());
        api.MapGet("/{id}/checkpoints", async (string id, int? offset, int? count, IGrainFactory grains) =>
            Results.Ok(await grains.GetGrain<ICampaignGrain>(id).GetCheckpoints(offset ?? 0, Math.Clamp(count ?? 1000, 1, 10_000))));
        api.MapGet("/{id}/report", async (string id, IGrainFactory grains) =>
            await grains.GetGrain<ICampaignGrain>(id).GetReport() is { } r ? Results.Ok(r) : Results.NotFound());
        api.MapPost("/{id}/cancel", async (string id, IGrainFactory grains) =>
        {
            var campaign = grains.GetGrain<ICampaignGrain>(id);
            if (await campaign.GetStatus() is null) return Results.NotFound();
            await campaign.Cancel();
            return Results.Accepted($"/api/campaigns/{id}", await campaign.GetStatus());
        });
    }
}

public static class CampaignIds
{
    /// <summary>A fresh campaign id: UTC time plus a random suffix, e.g. c-20261128-0512-4f3a9c.</summary>
    public static string New() => $"c-{DateTime.UtcNow:yyyyMMdd-HHmm}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
}
