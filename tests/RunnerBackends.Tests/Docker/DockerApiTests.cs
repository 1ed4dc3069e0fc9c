using RunnerBackends.Docker;

namespace RunnerBackends.Tests.Docker;

public class DockerApiTests
{
    [Fact]
    public void ParseBuildCachePrune_EngineResponse_ReadsEntriesAndSpace()
    {
        var result = DockerApi.ParseBuildCachePrune("{\"CachesDeleted\":[\"a\",\"b\"],\"SpaceReclaimed\":1572864}");

        result.CachesDeleted.Should().Equal("a", "b");
        result.SpaceReclaimed.Should().Be(1572864UL);
    }

    [Fact]
    public void ParseBuildCachePrune_NullEntries_Empty()
    {
        var result = DockerApi.ParseBuildCachePrune("{\"CachesDeleted\":null,\"SpaceReclaimed\":0}");

        result.CachesDeleted.Should().BeEmpty();
        result.SpaceReclaimed.Should().Be(0UL);
    }

    [Fact]
    public void Connect_UnsupportedScheme_Throws()
    {
        var act = () => DockerApi.Connect(new Uri("ftp://example.com"));

        act.Should().Throw<ArgumentException>().WithMessage("*ftp://*");
    }

    [Fact]
    public void Connect_ExplicitEndpoint_Kept()
    {
        using var api = DockerApi.Connect(new Uri("unix:///tmp/some.sock"));

        api.Endpoint.Should().Be(new Uri("unix:///tmp/some.sock"));
    }

    [Fact]
    public async Task CreateContainerAsync_NoSocket_ThrowsUnreachableNamingEndpoint()
    {
        using var api = DockerApi.Connect(new Uri("unix:///tmp/runnerbackends-no-such-dir/docker.sock"));

        var act = () => api.CreateContainerAsync(new global::Docker.DotNet.Models.CreateContainerParameters { Image = "x" }, TestContext.Current.CancellationToken);

        var error = (await act.Should().ThrowAsync<DockerEngineUnreachableException>()).Which;
        error.Endpoint.Should().Be(new Uri("unix:///tmp/runnerbackends-no-such-dir/docker.sock"));
        error.Message.Should().Contain("unix:///tmp/runnerbackends-no-such-dir/docker.sock");
    }

    [Fact]
    public async Task PruneBuildCacheAsync_NoSocket_ThrowsUnreachable()
    {
        using var api = DockerApi.Connect(new Uri("unix:///tmp/runnerbackends-no-such-dir/docker.sock"));

        var act = () => api.PruneBuildCacheAsync(all: true, TestContext.Current.CancellationToken);

        await act.Should().ThrowAsync<DockerEngineUnreachableException>();
    }

    [Fact]
    public async Task ListContainersAsync_TcpConnectionRefused_ThrowsUnreachable()
    {
        using var api = DockerApi.Connect(new Uri("tcp://127.0.0.1:1"));

        var act = () => api.ListContainersAsync(new global::Docker.DotNet.Models.ContainersListParameters(), TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<DockerEngineUnreachableException>()).Which.Message.Should().Contain("127.0.0.1:1");
    }
}
