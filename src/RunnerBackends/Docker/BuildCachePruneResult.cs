namespace RunnerBackends.Docker;

/// <summary>What a build-cache prune (<c>POST /build/prune</c>) removed.</summary>
/// <param name="CachesDeleted">The ids of the deleted cache entries.</param>
/// <param name="SpaceReclaimed">The disk space freed, in bytes.</param>
public sealed record BuildCachePruneResult(IReadOnlyList<string> CachesDeleted, ulong SpaceReclaimed);
