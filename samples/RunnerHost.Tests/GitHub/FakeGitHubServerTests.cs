using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using FakeGitHub;

namespace RunnerHost.Tests.GitHub;

/// <summary>The fake answers as GitHub's documentation says, so that what the host is tested against is faithful.</summary>
public sealed class FakeGitHubServerTests
{
    [Fact]
    public async Task GenerateJitConfig_ValidRequest_Answers201WithRunnerAndEncodedConfig()
    {
        await using var server = await FakeGitHubServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        using var http = CreateSut(server);

        using var response = await http.PostAsJsonAsync("orgs/acme/actions/runners/generate-jitconfig", new { name = "r-1", runner_group_id = 1, labels = new[] { "self-hosted" } }, TestContext.Current.CancellationToken);

        response.StatusCode.Should().Be(HttpStatusCode.Created);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
        body["runner"]!["name"]!.GetValue<string>().Should().Be("r-1");
        body["runner"]!["busy"]!.GetValue<bool>().Should().BeFalse();
        body["runner"]!["labels"]![0]!["type"]!.GetValue<string>().Should().Be("read-only");
        var files = JsonNode.Parse(Convert.FromBase64String(body["encoded_jit_config"]!.GetValue<string>()))!.AsObject();
        files.Select(f => f.Key).Should().Contain([".runner", ".credentials"]);
        response.Headers.GetValues("x-ratelimit-remaining").Should().ContainSingle();
        response.Headers.GetValues("x-ratelimit-reset").Should().ContainSingle();
    }

    [Fact]
    public async Task GenerateJitConfig_DuplicateName_Answers409WithGitHubsMessage()
    {
        await using var server = await FakeGitHubServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        using var http = CreateSut(server);
        var request = new { name = "r-1", runner_group_id = 1, labels = new[] { "self-hosted" } };
        (await http.PostAsJsonAsync("repos/acme/app/actions/runners/generate-jitconfig", request, TestContext.Current.CancellationToken)).Dispose();

        using var response = await http.PostAsJsonAsync("repos/acme/app/actions/runners/generate-jitconfig", request, TestContext.Current.CancellationToken);

        response.StatusCode.Should().Be(HttpStatusCode.Conflict);
        (await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).Should().Contain("Already exists - A runner with the name r-1 already exists.");
    }

    [Fact]
    public async Task GenerateJitConfig_MissingGroupOrUnknownGroup_Answers422Or404()
    {
        await using var server = await FakeGitHubServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        using var http = CreateSut(server);

        using var missing = await http.PostAsJsonAsync("orgs/acme/actions/runners/generate-jitconfig", new { name = "r-1", labels = new[] { "x" } }, TestContext.Current.CancellationToken);
        using var unknown = await http.PostAsJsonAsync("orgs/acme/actions/runners/generate-jitconfig", new { name = "r-1", runner_group_id = 99, labels = new[] { "x" } }, TestContext.Current.CancellationToken);

        missing.StatusCode.Should().Be(HttpStatusCode.UnprocessableEntity);
        unknown.StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Delete_BusyRunner_Answers422ThenIdleRunner204ThenMissing404()
    {
        await using var server = await FakeGitHubServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        using var http = CreateSut(server);
        var id = server.AddRunner("orgs/acme", "r-1", busy: true);

        using var busy = await http.DeleteAsync($"orgs/acme/actions/runners/{id}", TestContext.Current.CancellationToken);
        server.EndJob(id);
        var idle = server.AddRunner("orgs/acme", "r-2");
        using var deleted = await http.DeleteAsync($"orgs/acme/actions/runners/{idle}", TestContext.Current.CancellationToken);
        using var gone = await http.DeleteAsync($"orgs/acme/actions/runners/{idle}", TestContext.Current.CancellationToken);

        busy.StatusCode.Should().Be(HttpStatusCode.UnprocessableEntity);
        deleted.StatusCode.Should().Be(HttpStatusCode.NoContent);
        gone.StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task AnyRequest_WrongToken_Answers401()
    {
        await using var server = await FakeGitHubServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        using var http = CreateSut(server);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "wrong");

        using var response = await http.GetAsync("orgs/acme/actions/runners", TestContext.Current.CancellationToken);

        response.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task AnyRequest_PrimaryLimitExhausted_Answers403WithNothingRemaining()
    {
        await using var server = await FakeGitHubServer.StartAsync(new FakeGitHubOptions { RateLimit = 1 }, TestContext.Current.CancellationToken);
        using var http = CreateSut(server);
        (await http.GetAsync("orgs/acme/actions/runners", TestContext.Current.CancellationToken)).Dispose();

        using var response = await http.GetAsync("orgs/acme/actions/runners", TestContext.Current.CancellationToken);

        response.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        response.Headers.GetValues("x-ratelimit-remaining").Should().Equal("0");
    }

    [Fact]
    public async Task List_ByName_ReturnsTotalCountAndMatchingRunners()
    {
        await using var server = await FakeGitHubServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        using var http = CreateSut(server);
        server.AddRunner("orgs/acme", "a");
        server.AddRunner("orgs/acme", "b");
        server.AddRunner("orgs/other", "a");

        var body = JsonNode.Parse(await http.GetStringAsync("orgs/acme/actions/runners?name=a", TestContext.Current.CancellationToken))!;

        body["total_count"]!.GetValue<int>().Should().Be(1);
        body["runners"]!.AsArray().Should().ContainSingle();
    }

    private static HttpClient CreateSut(FakeGitHubServer server)
    {
        var http = new HttpClient { BaseAddress = server.ApiUrl };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", server.Token);
        return http;
    }
}
