using ConsulLock.Aop;

namespace WebhookReceiver.Worker;

/// <summary>
/// What a webhook receiver looks like with ConsulLock.Aop: one attribute, and the body holds the business logic.
/// The generated <see cref="HandleAsync"/> takes the lock "webhook_receiver/{id}", calls the body, and releases it.
/// </summary>
public sealed partial class DeliveryHandler(IConsulLockProvider locks, HttpClient target, string worker)
{
    [ConsulLocked("webhook_receiver/{id}", LockDelay = "1s")]
    public partial Task<int> HandleAsync(string id, int delivery, CancellationToken cancellationToken);

    // The body: forward the delivery to the target, passing the lock's fencing token. Its token fires the moment the
    // lock is lost, which aborts the outgoing call instead of letting it finish as a duplicate.
    private async Task<int> HandleCoreAsync(string id, int delivery, ConsulLockContext lockContext, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "deliveries/" + Uri.EscapeDataString(id));
        request.Headers.Add("X-Worker", worker);
        request.Headers.Add("X-Delivery", delivery.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add("X-Fencing-Token", lockContext.FencingToken.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add("X-Session", lockContext.SessionId);
        using var response = await target.SendAsync(request, cancellationToken);
        return (int)response.StatusCode;
    }
}
