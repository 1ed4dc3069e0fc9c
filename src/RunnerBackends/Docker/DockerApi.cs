using System.Globalization;
using System.IO.Pipes;
using System.Net.Sockets;
using System.Text.Json;
using Docker.DotNet;
using Docker.DotNet.Models;
using Docker.DotNet.NativeHttp;
using RunnerBackends.Docker.Internal;

namespace RunnerBackends.Docker;

/// <summary>
/// The real <see cref="IDockerApi"/>: Docker.DotNet over the engine's socket, plus <c>POST /build/prune</c> over an
/// <see cref="HttpClient"/> on the same endpoint. Safe for concurrent use; dispose it when the host stops.
/// </summary>
/// <remarks>
/// Connecting is lazy: an engine that cannot be reached surfaces on the first call as
/// <see cref="DockerEngineUnreachableException"/>, naming the endpoint.
/// </remarks>
public sealed class DockerApi : IDockerApi, IDisposable
{
    private const string DefaultUnixEndpoint = "unix:///var/run/docker.sock";
    private const string DefaultWindowsEndpoint = "npipe://./pipe/docker_engine";

    private readonly DockerClient _client;
    private readonly HttpClient _http;

    private DockerApi(Uri endpoint)
    {
        Endpoint = endpoint;
        var builder = new DockerClientBuilder().WithEndpoint(endpoint);

        // SocketsHttpHandler (the NativeHttp transport) for unix sockets and plain TCP: .NET's own pooled HTTP stack.
        _client = endpoint.Scheme is "unix" or "tcp" or "http"
            ? builder.WithTransportOptions(new NativeHttpTransportOptions()).Build()
            : builder.Build();
        _http = CreateHttpClient(endpoint);
    }

    /// <summary>Gets the engine endpoint this instance talks to.</summary>
    public Uri Endpoint { get; }

    /// <summary>
    /// Creates a client for the Docker engine at <paramref name="endpoint"/>; with none, the one <c>DOCKER_HOST</c> names,
    /// else the platform's default socket (<c>unix:///var/run/docker.sock</c>, or the <c>docker_engine</c> pipe on Windows).
    /// </summary>
    /// <param name="endpoint">A <c>unix://</c>, <c>npipe://</c>, <c>tcp://</c> or <c>http://</c> endpoint, or <see langword="null"/>.</param>
    /// <returns>A client; nothing is sent to the engine until the first call.</returns>
    /// <remarks>TLS endpoints (<c>DOCKER_TLS_VERIFY</c>, <c>https://</c>) and docker contexts are not supported: use a local socket or a plain <c>tcp://</c> endpoint.</remarks>
    /// <exception cref="ArgumentException">The endpoint (or <c>DOCKER_HOST</c>) has a scheme that is not supported.</exception>
    public static DockerApi Connect(Uri? endpoint = null)
    {
        endpoint ??= DefaultEndpoint();
        if (endpoint.Scheme is not ("unix" or "npipe" or "tcp" or "http"))
        {
            throw new ArgumentException(
                $"Docker endpoint '{endpoint}' is not supported: use unix://, npipe://, tcp:// or http://.", nameof(endpoint));
        }

        return new DockerApi(endpoint);
    }

    /// <inheritdoc />
    public Task<CreateContainerResponse> CreateContainerAsync(CreateContainerParameters parameters, CancellationToken cancellationToken = default) =>
        CallAsync(() => _client.Containers.CreateContainerAsync(parameters, cancellationToken), cancellationToken);

    /// <inheritdoc />
    public Task StartContainerAsync(string containerId, CancellationToken cancellationToken = default) =>
        CallAsync(() => _client.Containers.StartContainerAsync(containerId, new ContainerStartParameters(), cancellationToken), cancellationToken);

    /// <inheritdoc />
    public Task RemoveContainerAsync(string containerId, ContainerRemoveParameters parameters, CancellationToken cancellationToken = default) =>
        CallAsync(async () =>
        {
            await _client.Containers.RemoveContainerAsync(containerId, parameters, cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    /// <inheritdoc />
    public Task<ContainerWaitResponse> WaitContainerAsync(string containerId, CancellationToken cancellationToken = default) =>
        CallAsync(() => _client.Containers.WaitContainerAsync(containerId, cancellationToken), cancellationToken);

    /// <inheritdoc />
    public Task<IList<ContainerListResponse>> ListContainersAsync(ContainersListParameters parameters, CancellationToken cancellationToken = default) =>
        CallAsync(() => _client.Containers.ListContainersAsync(parameters, cancellationToken), cancellationToken);

    /// <inheritdoc />
    public Task<ImagesPruneResponse> PruneImagesAsync(ImagesPruneParameters parameters, CancellationToken cancellationToken = default) =>
        CallAsync(() => _client.Images.PruneImagesAsync(parameters, cancellationToken), cancellationToken);

    /// <inheritdoc />
    public Task<BuildCachePruneResult> PruneBuildCacheAsync(bool all, CancellationToken cancellationToken = default) =>
        CallAsync(async () =>
        {
            var path = all ? "build/prune?all=true" : "build/prune";
            using var response = await _http.PostAsync(new Uri(path, UriKind.Relative), content: null, cancellationToken).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new DockerApiException(response.StatusCode, body);
            }

            return ParseBuildCachePrune(body);
        }, cancellationToken);

    /// <inheritdoc />
    public Task RemoveVolumeAsync(string name, bool force, CancellationToken cancellationToken = default) =>
        CallAsync(async () =>
        {
            await _client.Volumes.RemoveAsync(name, force, cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    /// <inheritdoc />
    public Task<VolumesListResponse> ListVolumesAsync(VolumesListParameters parameters, CancellationToken cancellationToken = default) =>
        CallAsync(() => _client.Volumes.ListAsync(parameters, cancellationToken), cancellationToken);

    /// <inheritdoc />
    public Task<ImageInspectResponse> InspectImageAsync(string image, CancellationToken cancellationToken = default) =>
        CallAsync(() => _client.Images.InspectImageAsync(image, cancellationToken), cancellationToken);

    /// <summary>Releases the connections to the engine.</summary>
    public void Dispose()
    {
        _client.Dispose();
        _http.Dispose();
    }

    internal static BuildCachePruneResult ParseBuildCachePrune(string body)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return new BuildCachePruneResult([], 0);
        }

        using var document = JsonDocument.Parse(body);
        var root = document.RootElement;
        var deleted = new List<string>();
        if (root.TryGetProperty("CachesDeleted", out var caches) && caches.ValueKind == JsonValueKind.Array)
        {
            deleted.AddRange(caches.EnumerateArray().Select(c => c.GetString()).OfType<string>());
        }

        var reclaimed = root.TryGetProperty("SpaceReclaimed", out var space) && space.ValueKind == JsonValueKind.Number && space.TryGetUInt64(out var value)
            ? value
            : 0UL;
        return new BuildCachePruneResult(deleted, reclaimed);
    }

    private static Uri DefaultEndpoint()
    {
        var host = Environment.GetEnvironmentVariable("DOCKER_HOST");
        if (!string.IsNullOrWhiteSpace(host))
        {
            return Uri.TryCreate(host, UriKind.Absolute, out var uri)
                ? uri
                : throw new ArgumentException($"DOCKER_HOST '{host}' is not a valid endpoint URI.", "endpoint");
        }

        return new Uri(OperatingSystem.IsWindows() ? DefaultWindowsEndpoint : DefaultUnixEndpoint);
    }

    private static HttpClient CreateHttpClient(Uri endpoint)
    {
        var handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) };
        Uri baseAddress;
        switch (endpoint.Scheme)
        {
            case "unix":
                var socketPath = endpoint.LocalPath;
                handler.ConnectCallback = async (_, cancellationToken) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                };
                baseAddress = new Uri("http://localhost/");
                break;
            case "npipe":
                // npipe://./pipe/docker_engine: the host is the server, the path after /pipe/ the pipe's name.
                var server = string.IsNullOrEmpty(endpoint.Host) ? "." : endpoint.Host;
                var pipeName = endpoint.AbsolutePath.StartsWith("/pipe/", StringComparison.Ordinal)
                    ? endpoint.AbsolutePath["/pipe/".Length..]
                    : endpoint.AbsolutePath.TrimStart('/');
                handler.ConnectCallback = async (_, cancellationToken) =>
                {
                    var pipe = new NamedPipeClientStream(server, pipeName, PipeDirection.InOut, PipeOptions.Asynchronous);
                    try
                    {
                        await pipe.ConnectAsync(cancellationToken).ConfigureAwait(false);
                        return pipe;
                    }
                    catch
                    {
                        await pipe.DisposeAsync().ConfigureAwait(false);
                        throw;
                    }
                };
                baseAddress = new Uri("http://localhost/");
                break;
            default:
                baseAddress = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://{endpoint.Host}:{(endpoint.IsDefaultPort ? 2375 : endpoint.Port)}/"));
                break;
        }

        return new HttpClient(handler) { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan };
    }

    private async Task<T> CallAsync<T>(Func<Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception e) when (Translate(e, cancellationToken) is { } translated)
        {
            throw translated;
        }
    }

    private async Task CallAsync(Func<Task> call, CancellationToken cancellationToken)
    {
        try
        {
            await call().ConfigureAwait(false);
        }
        catch (Exception e) when (Translate(e, cancellationToken) is { } translated)
        {
            throw translated;
        }
    }

    /// <summary>
    /// The library exception for a transport failure: an engine that cannot be reached, or a request the client gave up
    /// on by its own timeout (which must not pass for the caller's cancellation); <see langword="null"/> to let it through.
    /// </summary>
    private Exception? Translate(Exception error, CancellationToken cancellationToken) => error switch
    {
        DockerApiException => null,
        OperationCanceledException when cancellationToken.IsCancellationRequested => null,
        OperationCanceledException => new TimeoutException($"The Docker engine at {Endpoint} did not answer in time.", error),
        _ when DockerErrors.IsUnreachable(error) => new DockerEngineUnreachableException(Endpoint, error),
        _ => null,
    };
}
