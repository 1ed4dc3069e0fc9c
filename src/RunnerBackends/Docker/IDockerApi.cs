using Docker.DotNet.Models;

namespace RunnerBackends.Docker;

/// <summary>
/// The narrow slice of the Docker Engine API that <see cref="DockerBackend"/> and <see cref="DockerMaintenance"/> use,
/// in Docker.DotNet model types. <see cref="DockerApi"/> is the real implementation; tests substitute their own.
/// </summary>
/// <remarks>
/// Implementations report engine errors as Docker.DotNet's <c>DockerApiException</c> (and its
/// <c>DockerContainerNotFoundException</c> / <c>DockerImageNotFoundException</c> subtypes), and an engine that cannot be
/// reached as <see cref="DockerEngineUnreachableException"/>.
/// </remarks>
public interface IDockerApi
{
    /// <summary>Creates a container (<c>POST /containers/create</c>). Not idempotent: callers never retry it blindly.</summary>
    /// <param name="parameters">The container's configuration, name and platform.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The new container's id and the engine's warnings.</returns>
    Task<CreateContainerResponse> CreateContainerAsync(CreateContainerParameters parameters, CancellationToken cancellationToken = default);

    /// <summary>Starts a created container (<c>POST /containers/{id}/start</c>).</summary>
    /// <param name="containerId">The container's id or name.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>A task that completes when the engine has started the container.</returns>
    Task StartContainerAsync(string containerId, CancellationToken cancellationToken = default);

    /// <summary>Removes a container (<c>DELETE /containers/{id}</c>).</summary>
    /// <param name="containerId">The container's id or name.</param>
    /// <param name="parameters">Whether to force the removal and remove anonymous volumes.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>A task that completes when the container is gone.</returns>
    Task RemoveContainerAsync(string containerId, ContainerRemoveParameters parameters, CancellationToken cancellationToken = default);

    /// <summary>Waits until a container is no longer running (<c>POST /containers/{id}/wait</c>), without a time limit.</summary>
    /// <param name="containerId">The container's id or name.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The container's exit status.</returns>
    Task<ContainerWaitResponse> WaitContainerAsync(string containerId, CancellationToken cancellationToken = default);

    /// <summary>Lists containers (<c>GET /containers/json</c>).</summary>
    /// <param name="parameters">Filters (labels, names) and whether stopped containers are included.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The matching containers.</returns>
    Task<IList<ContainerListResponse>> ListContainersAsync(ContainersListParameters parameters, CancellationToken cancellationToken = default);

    /// <summary>Removes unused images (<c>POST /images/prune</c>).</summary>
    /// <param name="parameters">Filters, such as <c>dangling=true</c>.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The deleted images and the space reclaimed.</returns>
    Task<ImagesPruneResponse> PruneImagesAsync(ImagesPruneParameters parameters, CancellationToken cancellationToken = default);

    /// <summary>Removes build cache (<c>POST /build/prune</c>), which Docker.DotNet does not cover.</summary>
    /// <param name="all">Whether to remove all unused build cache, not only dangling entries.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The deleted cache entries and the space reclaimed.</returns>
    Task<BuildCachePruneResult> PruneBuildCacheAsync(bool all, CancellationToken cancellationToken = default);

    /// <summary>Removes a volume (<c>DELETE /volumes/{name}</c>).</summary>
    /// <param name="name">The volume's name.</param>
    /// <param name="force">Whether to force the removal.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>A task that completes when the volume is gone.</returns>
    Task RemoveVolumeAsync(string name, bool force, CancellationToken cancellationToken = default);

    /// <summary>Lists volumes (<c>GET /volumes</c>).</summary>
    /// <param name="parameters">Filters, such as <c>dangling=true</c>.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The matching volumes.</returns>
    Task<VolumesListResponse> ListVolumesAsync(VolumesListParameters parameters, CancellationToken cancellationToken = default);

    /// <summary>Inspects a local image (<c>GET /images/{name}/json</c>).</summary>
    /// <param name="image">The image's reference or id.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The image's metadata.</returns>
    Task<ImageInspectResponse> InspectImageAsync(string image, CancellationToken cancellationToken = default);
}
