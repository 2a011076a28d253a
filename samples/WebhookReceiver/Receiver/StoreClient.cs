using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using ConsulLock.Aop;
using WebhookReceiver.Contracts;

namespace WebhookReceiver.Receiver;

/// <summary>What the store said.</summary>
public enum StoreReply
{
    NotApplied,
    AlreadyApplied,
    Applied,

    /// <summary>The fencing token was lower than one the store has seen for the event.</summary>
    Refused,
}

/// <summary>The receiver's side of the downstream store: every request carries the lock's fencing token.</summary>
public sealed class StoreClient(HttpClient http, string receiver)
{
    public async Task<StoreReply> CheckAsync(string eventId, ConsulLockContext lockContext, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(PathOf(eventId, "", lockContext), cancellationToken);
        if (response.StatusCode == HttpStatusCode.Conflict)
        {
            return StoreReply.Refused;
        }

        response.EnsureSuccessStatusCode();
        var answer = await response.Content.ReadFromJsonAsync<CheckAnswer>(cancellationToken);
        return answer is { Applied: true } ? StoreReply.AlreadyApplied : StoreReply.NotApplied;
    }

    public async Task<StoreReply> ApplyAsync(string eventId, ConsulLockContext lockContext, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsync(PathOf(eventId, "/apply", lockContext), null, cancellationToken);
        if (response.StatusCode == HttpStatusCode.Conflict)
        {
            return StoreReply.Refused;
        }

        response.EnsureSuccessStatusCode();
        return StoreReply.Applied;
    }

    private Uri PathOf(string eventId, string action, ConsulLockContext lockContext) => new(
        string.Create(CultureInfo.InvariantCulture, $"events/{Uri.EscapeDataString(eventId)}{action}?token={lockContext.FencingToken}&receiver={receiver}&session={lockContext.SessionId}"),
        UriKind.Relative);
}
