using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Docker.DotNet;

namespace RunnerBackends.Docker.Internal;

/// <summary>How the library reads errors from the engine and its transport.</summary>
internal static class DockerErrors
{
    public const int ShortIdLength = 12;

    public static string ShortId(string id) => id.Length <= ShortIdLength ? id : id[..ShortIdLength];

    /// <summary>
    /// Whether <paramref name="error"/> means no connection to the engine could be made at all (as opposed to one that
    /// broke mid-request).
    /// </summary>
    public static bool IsUnreachable(Exception error)
    {
        foreach (var e in Flatten(error))
        {
            if (e is SocketException socket)
            {
                return socket.SocketErrorCode is not (SocketError.ConnectionReset or SocketError.ConnectionAborted
                    or SocketError.Shutdown or SocketError.OperationAborted or SocketError.Interrupted);
            }

            if (e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError })
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Whether retrying the same idempotent call may succeed: a broken or refused connection, a timeout, or a 5xx from
    /// the engine. Never cancellation, never a 4xx.
    /// </summary>
    public static bool IsTransient(Exception error) => error switch
    {
        OperationCanceledException => false,
        DockerApiException api => (int)api.StatusCode >= 500,
        DockerEngineUnreachableException => true,
        HttpRequestException or IOException or SocketException or TimeoutException => true,
        AggregateException aggregate => aggregate.InnerExceptions.Count > 0 && aggregate.InnerExceptions.All(IsTransient),
        _ => false,
    };

    public static bool IsNotFound(Exception error) => error is DockerApiException { StatusCode: HttpStatusCode.NotFound };

    public static bool IsConflict(Exception error) => error is DockerApiException { StatusCode: HttpStatusCode.Conflict };

    /// <summary>The engine's own message (the <c>message</c> field of its JSON error body), or the raw body.</summary>
    public static string EngineMessage(DockerApiException error)
    {
        var body = error.ResponseBody?.Trim() ?? "";
        if (body.StartsWith('{'))
        {
            try
            {
                using var document = JsonDocument.Parse(body);
                if (document.RootElement.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String)
                {
                    return message.GetString() ?? body;
                }
            }
            catch (JsonException)
            {
                // Not JSON after all: the raw body is the best message there is.
            }
        }

        return body.Length > 0 ? body : error.StatusCode.ToString();
    }

    /// <summary>The engine's message with every occurrence of <paramref name="secret"/> masked.</summary>
    public static string EngineMessage(DockerApiException error, string secret) => Redact(EngineMessage(error), secret);

    public static string Redact(string text, string secret) =>
        secret.Length == 0 ? text : text.Replace(secret, "***", StringComparison.Ordinal);

    /// <summary>
    /// The exception to attach as a cause when the request carried <paramref name="secret"/>: the original when none of
    /// its text holds the secret, else a copy of the engine error with the secret masked (the original is dropped).
    /// </summary>
    public static Exception WithoutSecret(Exception error, string secret)
    {
        if (secret.Length == 0 || !error.ToString().Contains(secret, StringComparison.Ordinal))
        {
            return error;
        }

        return error switch
        {
            DockerApiException api => new DockerApiException(api.StatusCode, Redact(api.ResponseBody ?? "", secret)),
            _ => new RunnerBackendException(Redact(error.Message, secret)),
        };
    }

    private static IEnumerable<Exception> Flatten(Exception error)
    {
        var pending = new Stack<Exception>();
        pending.Push(error);
        while (pending.Count > 0)
        {
            var e = pending.Pop();
            yield return e;
            if (e is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    pending.Push(inner);
                }
            }
            else if (e.InnerException is not null)
            {
                pending.Push(e.InnerException);
            }
        }
    }
}
