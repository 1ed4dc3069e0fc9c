using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Moq;
using Polly;
using Polly.Retry;
using Polly.Testing;
using RunnerBackends.Docker;
using RunnerBackends.Docker.Internal;

namespace RunnerBackends.Tests.Docker.Internal;

public class DockerResilienceTests
{
    [Fact]
    public void CreateRetryPipeline_Shape_BoundedExponentialRetryWithJitter()
    {
        var pipeline = DockerResilience.CreateRetryPipeline(TimeProvider.System, NullLogger.Instance, TimeSpan.FromMilliseconds(200));

        var retry = pipeline.GetPipelineDescriptor().Strategies.Should().ContainSingle().Which.Options.Should().BeOfType<RetryStrategyOptions>().Which;
        retry.MaxRetryAttempts.Should().Be(3);
        retry.BackoffType.Should().Be(DelayBackoffType.Exponential);
        retry.UseJitter.Should().BeTrue();
        retry.MaxDelay.Should().Be(TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task RemoveRunnerAsync_TransientFailure_WaitsOnInjectedTimeBeforeRetrying()
    {
        var docker = new Mock<IDockerApi>();
        docker.SetupSequence(d => d.RemoveContainerAsync("c1", It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new DockerApiException(HttpStatusCode.InternalServerError, "busy"))
            .Returns(Task.CompletedTask);
        var time = new FakeTimeProvider();
        var sut = new DockerBackend(
            new DockerBackendOptions { RunnerImage = "img", MountDockerSocket = false }, docker.Object, null, time, TimeSpan.FromSeconds(1));

        var remove = sut.RemoveRunnerAsync("c1", TestContext.Current.CancellationToken);
        await Task.Yield();

        remove.IsCompleted.Should().BeFalse("the retry waits on the injected clock");
        docker.Verify(d => d.RemoveContainerAsync("c1", It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Once);
        time.Advance(TimeSpan.FromSeconds(3));
        await remove;
        docker.Verify(d => d.RemoveContainerAsync("c1", It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Exactly(2));
    }
}
