using Docker.DotNet.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Moq;
using RunnerBackends.Docker;
using RunnerBackends.Tart;

namespace RunnerBackends.Tests.DependencyInjection;

public sealed class RunnerBackendsServiceCollectionExtensionsTests
{
    [Fact]
    public async Task AddDockerRunnerBackend_Configuration_ResolvesOneBackendAsIRunnerBackendAndAsDockerBackend()
    {
        await using var provider = CreateSut(new() { ["Docker:RunnerImage"] = "runner:1" }, out _)
            .AddDockerRunnerBackend(Configuration(new() { ["Docker:RunnerImage"] = "runner:1" }).GetSection("Docker"))
            .BuildServiceProvider();

        var backend = provider.GetRequiredService<IRunnerBackend>();

        backend.Should().BeOfType<DockerBackend>().And.BeSameAs(provider.GetRequiredService<DockerBackend>());
    }

    [Fact]
    public async Task AddDockerRunnerBackend_Configuration_BindsEveryOption()
    {
        var section = Configuration(new()
        {
            ["Docker:RunnerImage"] = "runner:2",
            ["Docker:MountDockerSocket"] = "false",
            ["Docker:MemoryLimitMB"] = "2048",
            ["Docker:CpuLimit"] = "1.5",
            ["Docker:Owner"] = "host-a",
            ["Docker:SharedVolumePath"] = "/shared",
        }).GetSection("Docker");
        await using var provider = CreateSut([], out _).AddDockerRunnerBackend(section).BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<DockerBackendOptions>>().Value;

        options.Should().BeEquivalentTo(new
        {
            RunnerImage = "runner:2",
            MountDockerSocket = false,
            MemoryLimitMB = 2048L,
            CpuLimit = 1.5,
            Owner = "host-a",
            SharedVolumePath = "/shared",
        });
    }

    [Fact]
    public async Task AddDockerRunnerBackend_InvalidOptions_StartupValidationListsEveryProblem()
    {
        await using var provider = CreateSut([], out _)
            .AddDockerRunnerBackend(o =>
            {
                o.RunnerImage = "";
                o.MemoryLimitMB = -1;
                o.Platform = "nonsense";
            })
            .BuildServiceProvider();

        var act = () => provider.GetRequiredService<IStartupValidator>().Validate();

        var failures = act.Should().Throw<OptionsValidationException>().Which.Failures;
        failures.Should().HaveCount(3);
        failures.Should().Contain(f => f.StartsWith("Docker backend options: RunnerImage is required", StringComparison.Ordinal));
        failures.Should().Contain(f => f.Contains("MemoryLimitMB", StringComparison.Ordinal));
        failures.Should().Contain(f => f.Contains("Platform 'nonsense'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AddDockerRunnerBackend_ValidOptions_StartupValidationPasses()
    {
        await using var provider = CreateSut([], out _).AddDockerRunnerBackend(o => o.RunnerImage = "runner:1").BuildServiceProvider();

        var act = () => provider.GetRequiredService<IStartupValidator>().Validate();

        act.Should().NotThrow();
    }

    [Fact]
    public async Task AddDockerRunnerBackend_NoDockerApiRegistered_ConnectsToTheConfiguredEndpoint()
    {
        var section = Configuration(new() { ["Docker:RunnerImage"] = "runner:1", ["Docker:Endpoint"] = "tcp://127.0.0.1:2399" }).GetSection("Docker");
        await using var provider = new ServiceCollection().AddDockerRunnerBackend(section).BuildServiceProvider();

        var docker = provider.GetRequiredService<IDockerApi>();

        docker.Should().BeOfType<DockerApi>().Which.Endpoint.Should().Be(new Uri("tcp://127.0.0.1:2399"));
    }

    [Fact]
    public async Task AddDockerRunnerBackend_EndpointArgument_ConnectsToIt()
    {
        await using var provider = new ServiceCollection()
            .AddDockerRunnerBackend(o => o.RunnerImage = "runner:1", new Uri("unix:///tmp/other-docker.sock"))
            .BuildServiceProvider();

        provider.GetRequiredService<IDockerApi>().Should().BeOfType<DockerApi>()
            .Which.Endpoint.Should().Be(new Uri("unix:///tmp/other-docker.sock"));
    }

    [Fact]
    public async Task AddDockerRunnerBackend_EndpointNotAUri_ResolutionSaysWhichEndpoint()
    {
        var section = Configuration(new() { ["Docker:RunnerImage"] = "runner:1", ["Docker:Endpoint"] = "not a uri" }).GetSection("Docker");
        await using var provider = new ServiceCollection().AddDockerRunnerBackend(section).BuildServiceProvider();

        var act = () => provider.GetRequiredService<IDockerApi>();

        act.Should().Throw<OptionsValidationException>().WithMessage("*'not a uri'*");
    }

    [Fact]
    public async Task AddDockerRunnerBackend_LoggerFromContainer_BackendLogsThroughIt()
    {
        var services = CreateSut([], out var docker);
        services.AddLogging(b => b.AddFakeLogging().SetMinimumLevel(LogLevel.Trace));
        docker.Setup(d => d.ListContainersAsync(It.IsAny<ContainersListParameters>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync([new ContainerListResponse
            {
                ID = new string('a', 64),
                Names = ["/orphan-1"],
                State = "running",
                Labels = new Dictionary<string, string>
                {
                    [DockerLabels.ManagedBy] = DockerLabels.ManagedByValue,
                    [DockerLabels.Owner] = "host-a",
                    [DockerLabels.RunnerName] = "orphan-1",
                },
            }]);
        await using var provider = services.AddDockerRunnerBackend(o =>
        {
            o.RunnerImage = "runner:1";
            o.Owner = "host-a";
        }).BuildServiceProvider();

        await provider.GetRequiredService<DockerBackend>().RemoveOrphansAsync(TestContext.Current.CancellationToken);

        provider.GetFakeLogCollector().GetSnapshot().Should().Contain(r => r.Category == typeof(DockerBackend).FullName);
    }

    [Fact]
    public async Task AddDockerRunnerBackend_ContainerDisposed_ShutsTheBackendDown()
    {
        var services = CreateSut([], out _);
        var provider = services.AddDockerRunnerBackend(o => o.RunnerImage = "runner:1").BuildServiceProvider();
        var backend = provider.GetRequiredService<IRunnerBackend>();

        await provider.DisposeAsync();

        var act = () => backend.StartRunnerAsync("runner-1", "jit", TestContext.Current.CancellationToken);
        await act.Should().ThrowAsync<ObjectDisposedException>();
    }

    [Fact]
    public async Task AddDockerRunnerBackend_DockerApiAlreadyRegistered_UsesIt()
    {
        var services = CreateSut([], out var docker);
        await using var provider = services.AddDockerRunnerBackend(o => o.RunnerImage = "runner:1").BuildServiceProvider();

        provider.GetRequiredService<IDockerApi>().Should().BeSameAs(docker.Object);
    }

    [Fact]
    public async Task AddTartRunnerBackend_Configuration_ResolvesTartBackendWithProcessCommandRunnerAndSystemTime()
    {
        var section = Configuration(new() { ["Tart:BaseImage"] = "base", ["Tart:PoolSize"] = "1", ["Tart:MaxRunners"] = "2", ["Tart:ReadinessTimeout"] = "00:00:30" }).GetSection("Tart");
        await using var provider = new ServiceCollection().AddTartRunnerBackend(section).BuildServiceProvider();

        provider.GetRequiredService<IRunnerBackend>().Should().BeOfType<TartBackend>().And.BeSameAs(provider.GetRequiredService<TartBackend>());
        provider.GetRequiredService<ICommandRunner>().Should().BeOfType<ProcessCommandRunner>();
        provider.GetRequiredService<TimeProvider>().Should().BeSameAs(TimeProvider.System);
        provider.GetRequiredService<IOptions<TartBackendOptions>>().Value.Should().BeEquivalentTo(new
        {
            BaseImage = "base",
            PoolSize = 1,
            MaxRunners = 2,
            ReadinessTimeout = TimeSpan.FromSeconds(30),
        });
    }

    [Fact]
    public async Task AddTartRunnerBackend_InvalidOptions_StartupValidationListsEveryProblem()
    {
        await using var provider = new ServiceCollection()
            .AddTartRunnerBackend(o =>
            {
                o.BaseImage = "";
                o.MaxRunners = 1;
                o.PoolSize = 3;
            })
            .BuildServiceProvider();

        var act = () => provider.GetRequiredService<IStartupValidator>().Validate();

        var failures = act.Should().Throw<OptionsValidationException>().Which.Failures;
        failures.Should().HaveCountGreaterThanOrEqualTo(2).And.OnlyContain(f => f.StartsWith("Tart backend options: ", StringComparison.Ordinal));
        failures.Should().Contain(f => f.Contains("BaseImage", StringComparison.Ordinal));
        failures.Should().Contain(f => f.Contains("PoolSize", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AddTartRunnerBackend_CommandRunnerAndTimeProviderRegistered_BackendUsesThem()
    {
        var commands = new Mock<ICommandRunner>();
        commands.Setup(c => c.RunAsync(It.IsAny<CommandRequest>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new CommandResult(0, "[]", string.Empty));
        var time = new FakeTimeProvider();
        var services = new ServiceCollection().AddSingleton(commands.Object).AddSingleton<TimeProvider>(time);
        await using var provider = services.AddTartRunnerBackend(o => o.BaseImage = "base").BuildServiceProvider();

        await provider.GetRequiredService<TartBackend>().RemoveOrphansAsync(TestContext.Current.CancellationToken);

        commands.Verify(c => c.RunAsync(It.Is<CommandRequest>(r => r.Arguments.Contains("list")), It.IsAny<CancellationToken>()), Times.AtLeastOnce());
        provider.GetRequiredService<TimeProvider>().Should().BeSameAs(time);
    }

    [Fact]
    public async Task AddTartRunnerBackend_ContainerDisposed_ShutsTheBackendDown()
    {
        var commands = new Mock<ICommandRunner>();
        var provider = new ServiceCollection().AddSingleton(commands.Object).AddTartRunnerBackend(o => o.BaseImage = "base").BuildServiceProvider();
        var backend = provider.GetRequiredService<IRunnerBackend>();

        await provider.DisposeAsync();

        var act = () => backend.StartRunnerAsync("runner-1", "jit", TestContext.Current.CancellationToken);
        await act.Should().ThrowAsync<ObjectDisposedException>();
        commands.Verify(c => c.RunAsync(It.Is<CommandRequest>(r => r.Arguments.Contains("clone")), It.IsAny<CancellationToken>()), Times.Never());
    }

    [Fact]
    public void AddRunnerBackend_NullArguments_Throw()
    {
        var services = new ServiceCollection();

        FluentActions.Invoking(() => services.AddDockerRunnerBackend((IConfiguration)null!)).Should().Throw<ArgumentNullException>();
        FluentActions.Invoking(() => services.AddDockerRunnerBackend((Action<DockerBackendOptions>)null!)).Should().Throw<ArgumentNullException>();
        FluentActions.Invoking(() => services.AddTartRunnerBackend((IConfiguration)null!)).Should().Throw<ArgumentNullException>();
        FluentActions.Invoking(() => services.AddTartRunnerBackend((Action<TartBackendOptions>)null!)).Should().Throw<ArgumentNullException>();
        FluentActions.Invoking(() => ((IServiceCollection)null!).AddDockerRunnerBackend(_ => { })).Should().Throw<ArgumentNullException>();
    }

    private static ServiceCollection CreateSut(Dictionary<string, string?> settings, out Mock<IDockerApi> docker)
    {
        _ = settings;
        docker = new Mock<IDockerApi>();
        docker.Setup(d => d.ListContainersAsync(It.IsAny<ContainersListParameters>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync([]);
        var services = new ServiceCollection();
        services.AddSingleton(docker.Object);
        return services;
    }

    private static IConfiguration Configuration(Dictionary<string, string?> settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
}
