using System.Net;
using System.Net.Sockets;
using Docker.DotNet;
using RunnerBackends.Docker;
using RunnerBackends.Docker.Internal;

namespace RunnerBackends.Tests.Docker.Internal;

public class DockerErrorsTests
{
    public static TheoryData<Exception, bool> TransientCases => new()
    {
        { new HttpRequestException("reset"), true },
        { new IOException("broken pipe"), true },
        { new SocketException((int)SocketError.ConnectionReset), true },
        { new DockerApiException(HttpStatusCode.InternalServerError, "x"), true },
        { new DockerApiException(HttpStatusCode.BadGateway, "x"), true },
        { new DockerEngineUnreachableException(new Uri("unix:///x.sock"), null), true },
        { new DockerApiException(HttpStatusCode.NotFound, "x"), false },
        { new DockerApiException(HttpStatusCode.Conflict, "x"), false },
        { new OperationCanceledException(), false },
        { new TaskCanceledException(), false },
        { new InvalidOperationException(), false },
    };

    [Theory]
    [MemberData(nameof(TransientCases))]
    public void IsTransient_Classifies(Exception error, bool expected) => DockerErrors.IsTransient(error).Should().Be(expected);

    [Fact]
    public void IsUnreachable_ConnectionRefused_True() =>
        DockerErrors.IsUnreachable(new HttpRequestException("x", new SocketException((int)SocketError.ConnectionRefused))).Should().BeTrue();

    [Fact]
    public void IsUnreachable_ConnectionResetMidRequest_False() =>
        DockerErrors.IsUnreachable(new IOException("x", new SocketException((int)SocketError.ConnectionReset))).Should().BeFalse();

    [Fact]
    public void IsUnreachable_AggregateOfRefused_True() =>
        DockerErrors.IsUnreachable(new AggregateException(new SocketException((int)SocketError.ConnectionRefused))).Should().BeTrue();

    [Fact]
    public void ShortId_LongId_TwelveCharacters() => DockerErrors.ShortId(new string('a', 64)).Should().HaveLength(12);

    [Fact]
    public void ShortId_ShortId_Unchanged() => DockerErrors.ShortId("abc").Should().Be("abc");

    [Fact]
    public void EngineMessage_JsonBody_ReturnsMessageField() =>
        DockerErrors.EngineMessage(new DockerApiException(HttpStatusCode.NotFound, "{\"message\":\"No such image: x\"}\n")).Should().Be("No such image: x");

    [Fact]
    public void WithoutSecret_BodyHoldsSecret_ReturnsMaskedCopy()
    {
        var masked = DockerErrors.WithoutSecret(new DockerApiException(HttpStatusCode.BadRequest, "bad value s3cret!"), "s3cret!");

        masked.ToString().Should().NotContain("s3cret!");
        masked.Should().BeOfType<DockerApiException>().Which.StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }
}
