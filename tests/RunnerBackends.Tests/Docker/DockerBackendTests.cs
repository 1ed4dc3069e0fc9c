using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging.Testing;
using Moq;
using RunnerBackends.Docker;

namespace RunnerBackends.Tests.Docker;

public class DockerBackendTests
{
    private const string Image = "ghcr.io/example/runner:2";
    private const string Jit = "eyJqaXQiOiJzZWNyZXQtdmFsdWUtOTk5In0=";
    private const string ContainerId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    private readonly Mock<IDockerApi> _docker = new();
    private readonly FakeLogger<DockerBackend> _logger = new();
    private CreateContainerParameters? _created;

    public DockerBackendTests()
    {
        _docker.Setup(d => d.CreateContainerAsync(It.IsAny<CreateContainerParameters>(), It.IsAny<CancellationToken>()))
            .Callback<CreateContainerParameters, CancellationToken>((p, _) => _created = p)
            .ReturnsAsync(new CreateContainerResponse { ID = ContainerId, Warnings = [] });
        _docker.Setup(d => d.ListContainersAsync(It.IsAny<ContainersListParameters>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new List<ContainerListResponse>());
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private CreateContainerParameters Created => _created ?? throw new InvalidOperationException("nothing was created");

    private DockerBackend CreateSut(Action<DockerBackendOptions>? configure = null)
    {
        var options = new DockerBackendOptions { RunnerImage = Image, MountDockerSocket = false, Owner = "host-a" };
        configure?.Invoke(options);
        return new DockerBackend(options, _docker.Object, _logger, TimeProvider.System, TimeSpan.Zero);
    }

    private static DockerApiException ApiError(HttpStatusCode status, string message) =>
        new(status, $"{{\"message\":\"{message}\"}}");

    [Fact]
    public void Ctor_InvalidOptions_ThrowsListingEveryProblem()
    {
        var act = () => new DockerBackend(
            new DockerBackendOptions { RunnerImage = "", CpuLimit = -1, MemoryLimitMB = -5, Platform = "linux" },
            _docker.Object);

        act.Should().Throw<ArgumentException>()
            .Which.Message.Should().Contain("RunnerImage").And.Contain("CpuLimit").And.Contain("MemoryLimitMB").And.Contain("Platform");
    }

    [Fact]
    public void Ctor_NullDocker_Throws()
    {
        var act = () => new DockerBackend(new DockerBackendOptions { RunnerImage = Image }, null!);

        act.Should().Throw<ArgumentNullException>();
    }

    [Theory]
    [InlineData("")]
    [InlineData("-rm")]
    [InlineData("has space")]
    [InlineData("../etc")]
    [InlineData("a/b")]
    public async Task StartRunnerAsync_InvalidName_ThrowsBeforeAnyEngineCall(string name)
    {
        var act = () => CreateSut().StartRunnerAsync(name, Jit, Ct);

        await act.Should().ThrowAsync<ArgumentException>();
        _docker.VerifyNoOtherCalls();
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public async Task StartRunnerAsync_EmptyJitConfig_ThrowsBeforeAnyEngineCall(string jit)
    {
        var act = () => CreateSut().StartRunnerAsync("runner-1", jit, Ct);

        await act.Should().ThrowAsync<ArgumentException>();
        _docker.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task StartRunnerAsync_Valid_ReturnsContainerIdAndStartsIt()
    {
        var id = await CreateSut().StartRunnerAsync("runner-1", Jit, Ct);

        id.Should().Be(ContainerId);
        _docker.Verify(d => d.StartContainerAsync(ContainerId, It.IsAny<CancellationToken>()), Times.Once);
    }

    [Fact]
    public async Task StartRunnerAsync_Valid_CreatesNamedContainerWithJitEnvLabelsAndUser()
    {
        await CreateSut().StartRunnerAsync("runner-1", Jit, Ct);

        Created.Name.Should().Be("runner-1");
        Created.Image.Should().Be(Image);
        Created.User.Should().Be("runner");
        Created.Cmd.Should().Equal("/home/runner/run.sh");
        Created.Env.Should().Equal($"ACTIONS_RUNNER_INPUT_JITCONFIG={Jit}");
        Created.Labels.Should().Contain(DockerLabels.ManagedBy, DockerLabels.ManagedByValue)
            .And.Contain(DockerLabels.Owner, "host-a")
            .And.Contain(DockerLabels.RunnerName, "runner-1");
        Created.HostConfig!.SecurityOpt.Should().Equal("label:disable");
        Created.HostConfig!.Mounts.Should().BeEmpty();
        Created.HostConfig!.GroupAdd.Should().BeNull();
    }

    [Fact]
    public async Task StartRunnerAsync_Limits_ConvertsMegabytesAndCores()
    {
        await CreateSut(o =>
        {
            o.MemoryLimitMB = 2048;
            o.CpuLimit = 1.5;
            o.Platform = "linux/arm64/v8";
        }).StartRunnerAsync("runner-1", Jit, Ct);

        Created.HostConfig!.Memory.Should().Be(2048L * 1024 * 1024);
        Created.HostConfig!.NanoCPUs.Should().Be(1_500_000_000);
        Created.Platform.Should().Be("linux/arm64/v8");
    }

    [Fact]
    public async Task StartRunnerAsync_NoLimits_LeavesThemUnlimited()
    {
        await CreateSut().StartRunnerAsync("runner-1", Jit, Ct);

        Created.HostConfig!.Memory.Should().Be(0);
        Created.HostConfig!.NanoCPUs.Should().Be(0);
        Created.Platform.Should().BeNull();
    }

    [Fact]
    public async Task StartRunnerAsync_SharedVolume_MountsVolumeExportsDirAndWrapsCommand()
    {
        await CreateSut(o =>
        {
            o.SharedVolumePath = "/home/runner/shared";
            o.SharedVolumeName = "my-shared";
        }).StartRunnerAsync("runner-1", Jit, Ct);

        Created.HostConfig!.Mounts.Should().ContainSingle()
            .Which.Should().BeEquivalentTo(new { Type = "volume", Source = "my-shared", Target = "/home/runner/shared" });
        Created.Env.Should().Contain("SHARED_DIR=/home/runner/shared");
        Created.Cmd.Should().Equal("sh", "-c", "sudo chown -R 1001:123 /home/runner/shared && /home/runner/run.sh");
    }

    [Fact]
    public async Task StartRunnerAsync_SharedVolumePathWithShellCharacters_QuotedAsOneWord()
    {
        await CreateSut(o => o.SharedVolumePath = "/data/it's shared").StartRunnerAsync("runner-1", Jit, Ct);

        Created.Cmd![2].Should().Be("sudo chown -R 1001:123 '/data/it'\\''s shared' && /home/runner/run.sh");
    }

    [Fact]
    public async Task StartRunnerAsync_MountDockerSocket_BindsSocketAndAddsItsGroupAndRoot()
    {
        var socket = Path.GetTempFileName();
        try
        {
            await CreateSut(o =>
            {
                o.MountDockerSocket = true;
                o.DockerSocketPath = socket;
            }).StartRunnerAsync("runner-1", Jit, Ct);

            Created.HostConfig!.Mounts.Should().ContainSingle()
                .Which.Should().BeEquivalentTo(new { Type = "bind", Source = socket, Target = "/var/run/docker.sock" });
            var gid = global::RunnerBackends.Docker.Internal.UnixFileGroup.TryGetGroupId(socket);
            gid.Should().NotBeNull();
            var expected = gid == 0 ? new[] { "0" } : [gid!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture), "0"];
            Created.HostConfig!.GroupAdd.Should().Equal(expected);
        }
        finally
        {
            File.Delete(socket);
        }
    }

    [Fact]
    public async Task StartRunnerAsync_ImageMissing_ThrowsImageNotFoundNamingImageAndNoStart()
    {
        _docker.Setup(d => d.CreateContainerAsync(It.IsAny<CreateContainerParameters>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new DockerImageNotFoundException(HttpStatusCode.NotFound, $"{{\"message\":\"No such image: {Image}\"}}"));

        var act = () => CreateSut().StartRunnerAsync("runner-1", Jit, Ct);

        var error = (await act.Should().ThrowAsync<RunnerImageNotFoundException>()).Which;
        error.Image.Should().Be(Image);
        error.Message.Should().Contain(Image).And.Contain("pull");
        _docker.Verify(d => d.StartContainerAsync(It.IsAny<string>(), It.IsAny<CancellationToken>()), Times.Never);
        _docker.Verify(d => d.InspectImageAsync(It.IsAny<string>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Fact]
    public async Task StartRunnerAsync_NameTaken_ThrowsConflictPointingAtRemoveOrphans()
    {
        _docker.Setup(d => d.CreateContainerAsync(It.IsAny<CreateContainerParameters>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(ApiError(HttpStatusCode.Conflict, "Conflict. The container name \\\"/runner-1\\\" is already in use"));

        var act = () => CreateSut().StartRunnerAsync("runner-1", Jit, Ct);

        var error = (await act.Should().ThrowAsync<RunnerNameConflictException>()).Which;
        error.RunnerName.Should().Be("runner-1");
        error.Message.Should().Contain("RemoveOrphansAsync");
        _docker.Verify(d => d.RemoveContainerAsync(It.IsAny<string>(), It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Fact]
    public async Task StartRunnerAsync_CreateFailsWithServerError_NotRetried()
    {
        _docker.Setup(d => d.CreateContainerAsync(It.IsAny<CreateContainerParameters>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(ApiError(HttpStatusCode.InternalServerError, "boom"));

        var act = () => CreateSut().StartRunnerAsync("runner-1", Jit, Ct);

        (await act.Should().ThrowAsync<RunnerBackendException>()).Which.Message.Should().Contain("boom");
        _docker.Verify(d => d.CreateContainerAsync(It.IsAny<CreateContainerParameters>(), It.IsAny<CancellationToken>()), Times.Once);
    }

    [Fact]
    public async Task StartRunnerAsync_CreateConnectionReset_NotRetriedAndLeftoverRemovedByName()
    {
        _docker.Setup(d => d.CreateContainerAsync(It.IsAny<CreateContainerParameters>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new HttpRequestException("connection reset"));
        _docker.Setup(d => d.ListContainersAsync(It.IsAny<ContainersListParameters>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new List<ContainerListResponse> { new() { ID = ContainerId } });

        var act = () => CreateSut().StartRunnerAsync("runner-1", Jit, Ct);

        await act.Should().ThrowAsync<RunnerBackendException>();
        _docker.Verify(d => d.CreateContainerAsync(It.IsAny<CreateContainerParameters>(), It.IsAny<CancellationToken>()), Times.Once);
        _docker.Verify(d => d.ListContainersAsync(
            It.Is<ContainersListParameters>(p => p.Filters!["label"].ContainsKey($"{DockerLabels.RunnerName}=runner-1")
                && p.Filters!["label"].ContainsKey($"{DockerLabels.Owner}=host-a")),
            It.IsAny<CancellationToken>()), Times.Once);
        _docker.Verify(d => d.RemoveContainerAsync(ContainerId, It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Once);
    }

    [Fact]
    public async Task StartRunnerAsync_EngineUnreachable_PropagatesWithEndpoint()
    {
        var endpoint = new Uri("unix:///nowhere/docker.sock");
        _docker.Setup(d => d.CreateContainerAsync(It.IsAny<CreateContainerParameters>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new DockerEngineUnreachableException(endpoint, new HttpRequestException("Connection failed.")));

        var act = () => CreateSut().StartRunnerAsync("runner-1", Jit, Ct);

        (await act.Should().ThrowAsync<DockerEngineUnreachableException>()).Which.Message.Should().Contain("unix:///nowhere/docker.sock");
    }

    [Fact]
    public async Task StartRunnerAsync_StartFails_RemovesCreatedContainerAndThrows()
    {
        _docker.Setup(d => d.StartContainerAsync(ContainerId, It.IsAny<CancellationToken>()))
            .ThrowsAsync(ApiError(HttpStatusCode.InternalServerError, "OCI runtime create failed"));
        var sut = CreateSut();

        var act = () => sut.StartRunnerAsync("runner-1", Jit, Ct);

        (await act.Should().ThrowAsync<RunnerBackendException>()).Which.Message.Should().Contain("OCI runtime create failed").And.Contain("removed");
        _docker.Verify(d => d.RemoveContainerAsync(ContainerId, It.Is<ContainerRemoveParameters>(p => p.Force == true), It.IsAny<CancellationToken>()), Times.Once);
        sut.HeldContainerIds.Should().BeEmpty();
    }

    [Fact]
    public async Task StartRunnerAsync_CancelledDuringStart_RemovesContainerAndThrowsCancellation()
    {
        using var cts = new CancellationTokenSource();
        _docker.Setup(d => d.StartContainerAsync(ContainerId, It.IsAny<CancellationToken>()))
            .Returns<string, CancellationToken>(async (_, ct) =>
            {
                await cts.CancelAsync();
                ct.ThrowIfCancellationRequested();
            });
        var sut = CreateSut();

        var act = () => sut.StartRunnerAsync("runner-1", Jit, cts.Token);

        await act.Should().ThrowAsync<OperationCanceledException>();
        _docker.Verify(d => d.RemoveContainerAsync(ContainerId, It.IsAny<ContainerRemoveParameters>(), CancellationToken.None), Times.Once);
        sut.HeldContainerIds.Should().BeEmpty();
    }

    [Fact]
    public async Task StartRunnerAsync_CancelledWhileCreating_ContainerRemovedOnceEngineAnswers()
    {
        var create = new TaskCompletionSource<CreateContainerResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        _docker.Setup(d => d.CreateContainerAsync(It.IsAny<CreateContainerParameters>(), It.IsAny<CancellationToken>()))
            .Returns(create.Task);
        using var cts = new CancellationTokenSource();
        var sut = CreateSut();

        var start = sut.StartRunnerAsync("runner-1", Jit, cts.Token);
        await cts.CancelAsync();
        create.SetResult(new CreateContainerResponse { ID = ContainerId });

        await FluentActions.Awaiting(() => start).Should().ThrowAsync<OperationCanceledException>();
        _docker.Verify(d => d.RemoveContainerAsync(ContainerId, It.Is<ContainerRemoveParameters>(p => p.Force == true), CancellationToken.None), Times.Once);
        _docker.Verify(d => d.StartContainerAsync(It.IsAny<string>(), It.IsAny<CancellationToken>()), Times.Never);
        sut.HeldContainerIds.Should().BeEmpty();
    }

    [Fact]
    public async Task StartRunnerAsync_CancelledWhileCreatingAndCreateFails_NothingToRemove()
    {
        var create = new TaskCompletionSource<CreateContainerResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        _docker.Setup(d => d.CreateContainerAsync(It.IsAny<CreateContainerParameters>(), It.IsAny<CancellationToken>()))
            .Returns(create.Task);
        using var cts = new CancellationTokenSource();

        var start = CreateSut().StartRunnerAsync("runner-1", Jit, cts.Token);
        await cts.CancelAsync();
        create.SetException(ApiError(HttpStatusCode.Conflict, "name in use"));

        await FluentActions.Awaiting(() => start).Should().ThrowAsync<OperationCanceledException>();
        _docker.Verify(d => d.RemoveContainerAsync(It.IsAny<string>(), It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Fact]
    public async Task StartRunnerAsync_EngineErrorEchoesJitConfig_SecretAbsentFromExceptionAndLogs()
    {
        _docker.Setup(d => d.CreateContainerAsync(It.IsAny<CreateContainerParameters>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(ApiError(HttpStatusCode.BadRequest, $"invalid env ACTIONS_RUNNER_INPUT_JITCONFIG={Jit}"));

        var act = () => CreateSut().StartRunnerAsync("runner-1", Jit, Ct);

        var error = (await act.Should().ThrowAsync<RunnerBackendException>()).Which;
        error.ToString().Should().NotContain(Jit);
        error.Message.Should().Contain("invalid env");
        AllLogText().Should().NotContain(Jit);
    }

    [Fact]
    public async Task StartRunnerAsync_UnexpectedClientErrorHoldingJit_WrappedWithSecretMasked()
    {
        _docker.Setup(d => d.CreateContainerAsync(It.IsAny<CreateContainerParameters>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new InvalidOperationException($"could not serialize {Jit}"));

        var act = () => CreateSut().StartRunnerAsync("runner-1", Jit, Ct);

        (await act.Should().ThrowAsync<RunnerBackendException>()).Which.ToString().Should().NotContain(Jit);
        AllLogText().Should().NotContain(Jit);
    }

    [Fact]
    public async Task StartRunnerAsync_ClientThrowsSynchronously_WrappedWithSecretMasked()
    {
        _docker.Setup(d => d.CreateContainerAsync(It.IsAny<CreateContainerParameters>(), It.IsAny<CancellationToken>()))
            .Throws(new FormatException($"bad env {Jit}"));

        var act = () => CreateSut().StartRunnerAsync("runner-1", Jit, Ct);

        (await act.Should().ThrowAsync<RunnerBackendException>()).Which.ToString().Should().NotContain(Jit);
    }

    [Fact]
    public async Task StartRunnerAsync_SuccessAndFailure_JitConfigNeverLogged()
    {
        var sut = CreateSut();
        await sut.StartRunnerAsync("runner-1", Jit, Ct);
        _docker.Setup(d => d.StartContainerAsync(ContainerId, It.IsAny<CancellationToken>()))
            .ThrowsAsync(ApiError(HttpStatusCode.InternalServerError, "failed"));
        await FluentActions.Invoking(() => sut.StartRunnerAsync("runner-2", Jit, Ct)).Should().ThrowAsync<RunnerBackendException>();
        await sut.ShutdownAsync(Ct);

        _logger.Collector.Count.Should().BePositive();
        AllLogText().Should().NotContain(Jit);
    }

    [Fact]
    public async Task StartRunnerAsync_Success_LogsShortContainerId()
    {
        await CreateSut().StartRunnerAsync("runner-1", Jit, Ct);

        var started = _logger.Collector.GetSnapshot().Single(r => r.Id.Id == 2001);
        started.Message.Should().Contain(ContainerId[..12]).And.NotContain(ContainerId[..13]);
    }

    [Fact]
    public async Task StartRunnerAsync_AfterShutdown_RefusedWithoutEngineCall()
    {
        var sut = CreateSut();
        await sut.ShutdownAsync(Ct);

        var act = () => sut.StartRunnerAsync("runner-1", Jit, Ct);

        await act.Should().ThrowAsync<ObjectDisposedException>();
        _docker.Verify(d => d.CreateContainerAsync(It.IsAny<CreateContainerParameters>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Fact]
    public async Task RemoveRunnerAsync_Present_ForceRemovesWithAnonymousVolumes()
    {
        await CreateSut().RemoveRunnerAsync(ContainerId, Ct);

        _docker.Verify(d => d.RemoveContainerAsync(
            ContainerId, It.Is<ContainerRemoveParameters>(p => p.Force == true && p.RemoveVolumes == true), It.IsAny<CancellationToken>()), Times.Once);
    }

    [Fact]
    public async Task RemoveRunnerAsync_ContainerMissing_Succeeds()
    {
        _docker.Setup(d => d.RemoveContainerAsync(ContainerId, It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new DockerContainerNotFoundException(HttpStatusCode.NotFound, "{\"message\":\"No such container\"}"));

        var act = () => CreateSut().RemoveRunnerAsync(ContainerId, Ct);

        await act.Should().NotThrowAsync();
    }

    [Fact]
    public async Task RemoveRunnerAsync_TransientFailures_RetriedUntilSuccess()
    {
        _docker.SetupSequence(d => d.RemoveContainerAsync(ContainerId, It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new HttpRequestException("Connection reset by peer"))
            .ThrowsAsync(ApiError(HttpStatusCode.ServiceUnavailable, "busy"))
            .Returns(Task.CompletedTask);

        await CreateSut().RemoveRunnerAsync(ContainerId, Ct);

        _docker.Verify(d => d.RemoveContainerAsync(ContainerId, It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Exactly(3));
    }

    [Fact]
    public async Task RemoveRunnerAsync_PersistentServerError_GivesUpAfterBoundedRetries()
    {
        _docker.Setup(d => d.RemoveContainerAsync(ContainerId, It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(ApiError(HttpStatusCode.InternalServerError, "driver failed"));

        var act = () => CreateSut().RemoveRunnerAsync(ContainerId, Ct);

        (await act.Should().ThrowAsync<RunnerBackendException>()).Which.Message.Should().Contain("driver failed");
        _docker.Verify(d => d.RemoveContainerAsync(ContainerId, It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Exactly(4));
    }

    [Fact]
    public async Task RemoveRunnerAsync_ClientError_NotRetried()
    {
        _docker.Setup(d => d.RemoveContainerAsync(ContainerId, It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(ApiError(HttpStatusCode.BadRequest, "bad"));

        var act = () => CreateSut().RemoveRunnerAsync(ContainerId, Ct);

        await act.Should().ThrowAsync<RunnerBackendException>();
        _docker.Verify(d => d.RemoveContainerAsync(ContainerId, It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Once);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    public async Task RemoveRunnerAsync_EmptyId_ThrowsWithoutEngineCall(string id)
    {
        var act = () => CreateSut().RemoveRunnerAsync(id, Ct);

        await act.Should().ThrowAsync<ArgumentException>();
        _docker.VerifyNoOtherCalls();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(137)]
    public async Task WaitForExitAsync_ContainerExits_ReturnsItsExitCode(long code)
    {
        _docker.Setup(d => d.WaitContainerAsync(ContainerId, It.IsAny<CancellationToken>()))
            .ReturnsAsync(new ContainerWaitResponse { StatusCode = code });

        var exit = await CreateSut().WaitForExitAsync(ContainerId, Ct);

        exit.ExitCode.Should().Be((int)code);
    }

    [Fact]
    public async Task WaitForExitAsync_ContainerMissing_ReturnsUnknownExitCode()
    {
        _docker.Setup(d => d.WaitContainerAsync(ContainerId, It.IsAny<CancellationToken>()))
            .ThrowsAsync(new DockerContainerNotFoundException(HttpStatusCode.NotFound, "{\"message\":\"No such container\"}"));

        var exit = await CreateSut().WaitForExitAsync(ContainerId, Ct);

        exit.ExitCode.Should().BeNull();
    }

    [Fact]
    public async Task WaitForExitAsync_ConnectionDropped_WaitsAgain()
    {
        _docker.SetupSequence(d => d.WaitContainerAsync(ContainerId, It.IsAny<CancellationToken>()))
            .ThrowsAsync(new IOException("connection reset"))
            .ReturnsAsync(new ContainerWaitResponse { StatusCode = 2 });

        var exit = await CreateSut().WaitForExitAsync(ContainerId, Ct);

        exit.ExitCode.Should().Be(2);
    }

    [Fact]
    public async Task ShutdownAsync_HeldContainers_RemovesEachOnceEvenWhenCalledTwice()
    {
        var ids = new Queue<string>(["aaaaaaaaaaaaaaaa1", "bbbbbbbbbbbbbbbb2"]);
        _docker.Setup(d => d.CreateContainerAsync(It.IsAny<CreateContainerParameters>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(() => new CreateContainerResponse { ID = ids.Dequeue() });
        var sut = CreateSut();
        await sut.StartRunnerAsync("runner-1", Jit, Ct);
        await sut.StartRunnerAsync("runner-2", Jit, Ct);

        await sut.ShutdownAsync(Ct);
        await sut.ShutdownAsync(Ct);
        await sut.DisposeAsync();

        _docker.Verify(d => d.RemoveContainerAsync("aaaaaaaaaaaaaaaa1", It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Once);
        _docker.Verify(d => d.RemoveContainerAsync("bbbbbbbbbbbbbbbb2", It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Once);
        sut.HeldContainerIds.Should().BeEmpty();
    }

    [Fact]
    public async Task ShutdownAsync_AlreadyRemovedRunner_NotRemovedAgain()
    {
        var sut = CreateSut();
        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);
        await sut.RemoveRunnerAsync(id, Ct);

        await sut.ShutdownAsync(Ct);

        _docker.Verify(d => d.RemoveContainerAsync(id, It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Once);
    }

    [Fact]
    public async Task ShutdownAsync_RemovalFails_LogsAndKeepsContainerForNextAttempt()
    {
        var sut = CreateSut();
        await sut.StartRunnerAsync("runner-1", Jit, Ct);
        _docker.Setup(d => d.RemoveContainerAsync(ContainerId, It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(ApiError(HttpStatusCode.BadRequest, "refused"));

        await sut.ShutdownAsync(Ct);

        _logger.Collector.GetSnapshot().Should().Contain(r => r.Id.Id == 2007);
        sut.HeldContainerIds.Should().Contain(ContainerId);
    }

    [Fact]
    public async Task DisposeAsync_Twice_IsSafe()
    {
        var sut = CreateSut();
        await sut.StartRunnerAsync("runner-1", Jit, Ct);

        await sut.DisposeAsync();
        var act = async () => await sut.DisposeAsync();

        await act.Should().NotThrowAsync();
    }

    [Fact]
    public async Task RemoveOrphansAsync_OwnedContainersNotStartedHere_RemovedAndReturned()
    {
        var sut = CreateSut();
        var mine = await sut.StartRunnerAsync("runner-1", Jit, Ct);
        _docker.Setup(d => d.ListContainersAsync(It.IsAny<ContainersListParameters>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new List<ContainerListResponse>
            {
                new() { ID = mine, Labels = Labels("host-a", "runner-1") },
                new() { ID = "orphan1", Labels = Labels("host-a", "old-runner") },
                new() { ID = "foreign", Labels = Labels("host-b", "other") },
            });

        var removed = await sut.RemoveOrphansAsync(Ct);

        removed.Should().Equal("orphan1");
        _docker.Verify(d => d.RemoveContainerAsync("orphan1", It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Once);
        _docker.Verify(d => d.RemoveContainerAsync("foreign", It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Never);
        _docker.Verify(d => d.RemoveContainerAsync(mine, It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Fact]
    public async Task RemoveOrphansAsync_Always_FiltersByManagedByAndOwnerLabels()
    {
        await CreateSut().RemoveOrphansAsync(Ct);

        _docker.Verify(d => d.ListContainersAsync(
            It.Is<ContainersListParameters>(p => p.All == true
                && p.Filters!["label"].ContainsKey($"{DockerLabels.ManagedBy}={DockerLabels.ManagedByValue}")
                && p.Filters!["label"].ContainsKey($"{DockerLabels.Owner}=host-a")),
            It.IsAny<CancellationToken>()), Times.Once);
    }

    private static Dictionary<string, string> Labels(string owner, string name) => new()
    {
        [DockerLabels.ManagedBy] = DockerLabels.ManagedByValue,
        [DockerLabels.Owner] = owner,
        [DockerLabels.RunnerName] = name,
    };

    private string AllLogText() => string.Join(
        "\n",
        _logger.Collector.GetSnapshot().Select(r => r.Message + " " + r.Exception + " " +
            string.Join(",", r.StructuredState?.Select(kv => kv.Value) ?? [])));
}
