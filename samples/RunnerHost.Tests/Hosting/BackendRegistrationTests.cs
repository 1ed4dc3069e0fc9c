using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RunnerBackends;
using RunnerBackends.Docker;
using RunnerBackends.Tart;
using RunnerHost.Tests.Support;

namespace RunnerHost.Tests.Hosting;

/// <summary>The library's DI registration as a generic host uses it: the configured backend, validated at start.</summary>
public sealed class BackendRegistrationTests
{
    [Fact]
    public async Task Start_DockerOptionsInvalid_HostFailsListingEveryProblemBeforeAnyRequest()
    {
        await using var sut = await KeeperHarness.CreateAsync(addBackend: null, new Dictionary<string, string?>
        {
            ["Keeper:Backend"] = "docker",
            ["Docker:RunnerImage"] = "",
            ["Docker:CpuLimit"] = "-2",
        });

        var act = sut.StartAsync;

        var failures = (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Failures;
        failures.Should().Contain(f => f.Contains("RunnerImage is required", StringComparison.Ordinal))
            .And.Contain(f => f.Contains("CpuLimit", StringComparison.Ordinal));
        sut.GitHub.Requests.Should().BeEmpty();
    }

    [Fact]
    public async Task Start_TartOptionsInvalid_HostFailsListingEveryProblem()
    {
        await using var sut = await KeeperHarness.CreateAsync(addBackend: null, new Dictionary<string, string?>
        {
            ["Keeper:Backend"] = "tart",
            ["Tart:BaseImage"] = "",
            ["Tart:PoolSize"] = "3",
            ["Tart:MaxRunners"] = "2",
        });

        var act = sut.StartAsync;

        var failures = (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Failures;
        failures.Should().Contain(f => f.Contains("BaseImage", StringComparison.Ordinal))
            .And.Contain(f => f.Contains("PoolSize", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Build_DockerBackendConfigured_ResolvesTheLibrarysDockerBackendAsIRunnerBackend()
    {
        await using var sut = await KeeperHarness.CreateAsync(addBackend: null, new Dictionary<string, string?>
        {
            ["Keeper:Backend"] = "docker",
            ["Docker:RunnerImage"] = "runner:1",
            ["Docker:Endpoint"] = "tcp://127.0.0.1:2399",
        });

        var backend = sut.Host.Services.GetRequiredService<IRunnerBackend>();

        backend.Should().BeOfType<DockerBackend>();
        sut.Host.Services.GetRequiredService<IDockerApi>().Should().BeOfType<DockerApi>().Which.Endpoint.Should().Be(new Uri("tcp://127.0.0.1:2399"));
    }

    [Fact]
    public async Task Build_TartBackendConfigured_ResolvesTheLibrarysTartBackendWithBoundOptions()
    {
        await using var sut = await KeeperHarness.CreateAsync(addBackend: null, new Dictionary<string, string?>
        {
            ["Keeper:Backend"] = "tart",
            ["Tart:BaseImage"] = "base",
            ["Tart:PoolSize"] = "1",
        });

        sut.Host.Services.GetRequiredService<IRunnerBackend>().Should().BeOfType<TartBackend>();
        sut.Host.Services.GetRequiredService<IOptions<TartBackendOptions>>().Value.PoolSize.Should().Be(1);
    }
}
