using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FakeGitHub;

/// <summary>
/// An in-process fake of GitHub's self-hosted runner REST endpoints on 127.0.0.1 and an ephemeral port: just-in-time
/// registration, listing, getting and deleting runners for repositories, organisations and enterprises, with GitHub's
/// status codes, bodies and <c>x-ratelimit-*</c> headers, fault injection, and optional simulated jobs that make idle
/// runners busy and deregister them when the job ends (as an ephemeral runner does).
/// </summary>
public sealed class FakeGitHubServer : IAsyncDisposable
{
    private const string Docs = "https://docs.github.com/rest/actions/self-hosted-runners";

    private readonly Lock _lock = new();
    private readonly Dictionary<long, RunnerState> _runners = [];
    private readonly List<FakeRequest> _requests = [];
    private readonly List<FakeFault> _faults = [];
    private readonly List<string> _issuedJitConfigs = [];
    private readonly List<string> _completedJobs = [];
    private readonly FakeGitHubOptions _options;
    private readonly TimeProvider _time = TimeProvider.System;
    private readonly CancellationTokenSource _stopping = new();
    private WebApplication? _app;
    private Task _jobs = Task.CompletedTask;
    private long _nextId = 1000;
    private DateTimeOffset _windowStart;
    private int _used;
    private int _maxRegistered;
    private DateTimeOffset _lastJobAt = DateTimeOffset.MinValue;

    private FakeGitHubServer(FakeGitHubOptions options)
    {
        _options = options;
        _windowStart = _time.GetUtcNow();
    }

    /// <summary>The API base URL to give a client (e.g. <c>http://127.0.0.1:41234/</c>).</summary>
    public Uri ApiUrl { get; private set; } = null!;

    /// <summary>The token requests must carry.</summary>
    public string Token => _options.Token;

    /// <summary>The runners registered now.</summary>
    public IReadOnlyList<FakeRunner> Runners
    {
        get
        {
            lock (_lock)
            {
                return [.. _runners.Values.OrderBy(r => r.Id).Select(r => r.ToRecord())];
            }
        }
    }

    /// <summary>Every request answered so far, in order.</summary>
    public IReadOnlyList<FakeRequest> Requests
    {
        get
        {
            lock (_lock)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>Every encoded JIT config handed out (so that tests can check none of them leaked).</summary>
    public IReadOnlyList<string> IssuedJitConfigs
    {
        get
        {
            lock (_lock)
            {
                return [.. _issuedJitConfigs];
            }
        }
    }

    /// <summary>Names of runners whose simulated job ended (and whose registration therefore disappeared).</summary>
    public IReadOnlyList<string> CompletedJobs
    {
        get
        {
            lock (_lock)
            {
                return [.. _completedJobs];
            }
        }
    }

    /// <summary>The largest number of runners that were registered at once.</summary>
    public int MaxRegistered
    {
        get
        {
            lock (_lock)
            {
                return _maxRegistered;
            }
        }
    }

    /// <summary>Starts a fake on 127.0.0.1 and a free port.</summary>
    /// <param name="options">Its behaviour; defaults when null.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running fake; dispose it to stop it.</returns>
    public static async Task<FakeGitHubServer> StartAsync(FakeGitHubOptions? options = null, CancellationToken cancellationToken = default)
    {
        var server = new FakeGitHubServer(options ?? new FakeGitHubOptions());
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        server.Map(app);
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.ApiUrl = new Uri(address.TrimEnd('/') + "/");
        server._app = app;
        server._jobs = server.SimulateJobsAsync(server._stopping.Token);

        return server;
    }

    /// <summary>Forces the answer of the next request that matches <paramref name="fault"/>.</summary>
    /// <param name="fault">The answer and which request it applies to.</param>
    /// <param name="times">How many matching requests get it.</param>
    public void Inject(FakeFault fault, int times = 1)
    {
        ArgumentNullException.ThrowIfNull(fault);
        lock (_lock)
        {
            for (var i = 0; i < times; i++)
            {
                _faults.Add(fault);
            }
        }
    }

    /// <summary>Registers a runner directly, as if another process (or an earlier run) had done it.</summary>
    /// <param name="scope">Owner path, e.g. <c>orgs/acme</c>.</param>
    /// <param name="name">The runner's name.</param>
    /// <param name="busy">Whether it runs a job.</param>
    /// <returns>The runner's id.</returns>
    public long AddRunner(string scope, string name, bool busy = false)
    {
        lock (_lock)
        {
            var runner = new RunnerState(++_nextId, name, scope, 1, ["self-hosted"], _time.GetUtcNow()) { Busy = busy };
            _runners.Add(runner.Id, runner);
            _maxRegistered = Math.Max(_maxRegistered, _runners.Count);
            return runner.Id;
        }
    }

    /// <summary>Hands a job to a runner: it becomes busy until <see cref="FakeGitHubOptions.JobDuration"/> has passed
    /// (or for ever when <paramref name="forever"/>), then its registration disappears.</summary>
    /// <param name="runnerId">The runner.</param>
    /// <param name="forever">Keep it busy until <see cref="EndJob"/>.</param>
    /// <returns>Whether the runner existed and was idle.</returns>
    public bool StartJob(long runnerId, bool forever = false)
    {
        lock (_lock)
        {
            if (!_runners.TryGetValue(runnerId, out var runner) || runner.Busy)
            {
                return false;
            }

            runner.Busy = true;
            runner.JobsRun++;
            runner.JobEndsAt = forever ? DateTimeOffset.MaxValue : _time.GetUtcNow() + _options.JobDuration;
            return true;
        }
    }

    /// <summary>Ends a runner's job now: the ephemeral runner deregisters.</summary>
    /// <param name="runnerId">The runner.</param>
    public void EndJob(long runnerId)
    {
        lock (_lock)
        {
            if (_runners.Remove(runnerId, out var runner))
            {
                _completedJobs.Add(runner.Name);
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        try
        {
            await _jobs;
        }
        catch (OperationCanceledException)
        {
        }

        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        _stopping.Dispose();
    }

    private void Map(WebApplication app)
    {
        MapScope(app.MapGroup("/repos/{owner}/{repo}/actions/runners"), r => $"repos/{r.RouteValues["owner"]}/{r.RouteValues["repo"]}");
        MapScope(app.MapGroup("/orgs/{org}/actions/runners"), r => $"orgs/{r.RouteValues["org"]}");
        MapScope(app.MapGroup("/enterprises/{enterprise}/actions/runners"), r => $"enterprises/{r.RouteValues["enterprise"]}");
        app.MapFallback(() => Answer(HttpStatusCode.NotFound, NotFoundBody()));
    }

    private void MapScope(RouteGroupBuilder group, Func<HttpRequest, string> scopeOf)
    {
        group.MapPost("/generate-jitconfig", (Func<HttpContext, Task<IResult>>)(c => GenerateJitConfigAsync(c, scopeOf(c.Request))));
        group.MapGet("/", (HttpContext c) => Guarded(c, () => List(c, scopeOf(c.Request))));
        group.MapGet("/{id}", (HttpContext c, string id) => Guarded(c, () => Get(scopeOf(c.Request), id)));
        group.MapDelete("/{id}", (HttpContext c, string id) => Guarded(c, () => Delete(scopeOf(c.Request), id)));
    }

    private async Task<IResult> GenerateJitConfigAsync(HttpContext context, string scope)
    {
        JsonNode? body;
        try
        {
            body = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        }
        catch (JsonException)
        {
            body = null;
        }

        var name = body?["name"] is JsonValue n && n.TryGetValue<string>(out var s) ? s : null;
        return Guarded(context, () => Register(scope, body, name), name, registerAnyway: () => Register(scope, body, name));
    }

    private IResult Guarded(HttpContext context, Func<(HttpStatusCode, object?)> handle, string? runnerName = null, Func<(HttpStatusCode, object?)>? registerAnyway = null)
    {
        var request = context.Request;
        HttpStatusCode status;
        object? body;
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            if (now - _windowStart >= _options.RateLimitWindow)
            {
                _windowStart = now;
                _used = 0;
            }

            var fault = _faults.FirstOrDefault(f =>
                (f.Method is null || string.Equals(f.Method, request.Method, StringComparison.OrdinalIgnoreCase)) &&
                (f.PathContains is null || request.Path.Value!.Contains(f.PathContains, StringComparison.Ordinal)));
            if (!Authorized(request))
            {
                (status, body) = (HttpStatusCode.Unauthorized, new { message = "Bad credentials", documentation_url = "https://docs.github.com/rest" });
            }
            else if (fault is not null)
            {
                _faults.Remove(fault);
                if (fault.RegisterAnyway && registerAnyway is not null)
                {
                    registerAnyway();
                }

                _used++;
                (status, body) = (fault.Status, FaultBody(fault));
                SetRateLimitHeaders(context.Response, fault.RateLimitResetAfter is { } reset ? 0 : Remaining(), fault.RateLimitResetAfter is { } r ? now + r : _windowStart + _options.RateLimitWindow);
                if (fault.RetryAfterSeconds is { } retryAfter)
                {
                    context.Response.Headers["retry-after"] = retryAfter.ToString(CultureInfo.InvariantCulture);
                }

                _requests.Add(new FakeRequest(now, request.Method, request.Path + request.QueryString, (int)status, runnerName));
                return Results.Json(body, statusCode: (int)status);
            }
            else if (_used >= _options.RateLimit)
            {
                (status, body) = (HttpStatusCode.Forbidden, new { message = "API rate limit exceeded for user ID 1.", documentation_url = "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting" });
            }
            else
            {
                _used++;
                (status, body) = handle();
            }

            SetRateLimitHeaders(context.Response, Remaining(), _windowStart + _options.RateLimitWindow);
            _requests.Add(new FakeRequest(now, request.Method, request.Path + request.QueryString, (int)status, runnerName));
        }

        return status == HttpStatusCode.NoContent ? Results.NoContent() : Results.Json(body, statusCode: (int)status);
    }

    private int Remaining() => Math.Max(0, _options.RateLimit - _used);

    private void SetRateLimitHeaders(HttpResponse response, int remaining, DateTimeOffset reset)
    {
        response.Headers["x-ratelimit-limit"] = _options.RateLimit.ToString(CultureInfo.InvariantCulture);
        response.Headers["x-ratelimit-remaining"] = remaining.ToString(CultureInfo.InvariantCulture);
        response.Headers["x-ratelimit-used"] = (_options.RateLimit - remaining).ToString(CultureInfo.InvariantCulture);
        // GitHub's reset is whole epoch seconds; round up so that waiting until it is never too early.
        response.Headers["x-ratelimit-reset"] = ((reset.ToUnixTimeMilliseconds() + 999) / 1000).ToString(CultureInfo.InvariantCulture);
        response.Headers["x-ratelimit-resource"] = "core";
    }

    private bool Authorized(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        return header == $"Bearer {_options.Token}" || header == $"token {_options.Token}";
    }

    private (HttpStatusCode, object?) Register(string scope, JsonNode? body, string? name)
    {
        var errors = new List<object>();
        if (string.IsNullOrEmpty(name))
        {
            errors.Add(new { resource = "Runner", field = "name", code = "missing_field" });
        }

        int? group = body?["runner_group_id"] is JsonValue g && g.TryGetValue<int>(out var gid) ? gid : null;
        if (group is null)
        {
            errors.Add(new { resource = "Runner", field = "runner_group_id", code = "missing_field" });
        }

        var labels = (body?["labels"] as JsonArray)?.Select(l => l?.GetValue<string>() ?? string.Empty).ToList();
        if (labels is null || labels.Count is < 1 or > 100 || labels.Any(string.IsNullOrWhiteSpace))
        {
            errors.Add(new { resource = "Runner", field = "labels", code = "invalid" });
        }

        if (errors.Count > 0)
        {
            return (HttpStatusCode.UnprocessableEntity, new { message = "Validation Failed", errors, documentation_url = Docs });
        }

        if (!_options.RunnerGroupIds.Contains(group!.Value))
        {
            return (HttpStatusCode.NotFound, NotFoundBody());
        }

        if (_runners.Values.Any(r => r.Scope == scope && r.Name == name))
        {
            return (HttpStatusCode.Conflict, new { message = $"Already exists - A runner with the name {name} already exists.", documentation_url = Docs });
        }

        var runner = new RunnerState(++_nextId, name!, scope, group.Value, labels!, _time.GetUtcNow());
        _runners.Add(runner.Id, runner);
        _maxRegistered = Math.Max(_maxRegistered, _runners.Count);
        var jitConfig = _options.JitConfigFactory?.Invoke(runner.ToRecord()) ?? EncodeJitConfig(runner);
        _issuedJitConfigs.Add(jitConfig);
        return (HttpStatusCode.Created, new JsonObject
        {
            ["runner"] = RunnerJson(runner),
            ["encoded_jit_config"] = jitConfig,
        });
    }

    private (HttpStatusCode, object?) List(HttpContext context, string scope)
    {
        var query = context.Request.Query;
        var perPage = int.TryParse(query["per_page"], out var pp) ? Math.Clamp(pp, 1, 100) : 30;
        var page = int.TryParse(query["page"], out var p) ? Math.Max(1, p) : 1;
        var name = query["name"].ToString();
        var matching = _runners.Values
            .Where(r => r.Scope == scope && (name.Length == 0 || r.Name == name))
            .OrderBy(r => r.Id)
            .ToList();
        var runners = new JsonArray([.. matching.Skip((page - 1) * perPage).Take(perPage).Select(RunnerJson)]);
        return (HttpStatusCode.OK, new JsonObject { ["total_count"] = matching.Count, ["runners"] = runners });
    }

    private (HttpStatusCode, object?) Get(string scope, string id)
    {
        return long.TryParse(id, out var runnerId) && _runners.TryGetValue(runnerId, out var runner) && runner.Scope == scope
            ? (HttpStatusCode.OK, RunnerJson(runner))
            : (HttpStatusCode.NotFound, NotFoundBody());
    }

    private (HttpStatusCode, object?) Delete(string scope, string id)
    {
        if (!long.TryParse(id, out var runnerId) || !_runners.TryGetValue(runnerId, out var runner) || runner.Scope != scope)
        {
            return (HttpStatusCode.NotFound, NotFoundBody());
        }

        if (runner.Busy)
        {
            return (HttpStatusCode.UnprocessableEntity, new { message = "Bad request - Runner \"" + runner.Name + "\" is still running a job\"", documentation_url = Docs });
        }

        _runners.Remove(runnerId);
        return (HttpStatusCode.NoContent, null);
    }

    private async Task SimulateJobsAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100), _time);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            lock (_lock)
            {
                var now = _time.GetUtcNow();
                foreach (var ended in _runners.Values.Where(r => r.Busy && r.JobEndsAt <= now).ToList())
                {
                    _runners.Remove(ended.Id);
                    _completedJobs.Add(ended.Name);
                }

                if (_options.JobPickupDelay is null || now - _lastJobAt < _options.JobInterval)
                {
                    continue;
                }

                var next = _runners.Values
                    .Where(r => !r.Busy && r.JobsRun == 0 && now - r.RegisteredAt >= _options.JobPickupDelay!.Value)
                    .OrderBy(r => r.Id)
                    .FirstOrDefault();
                if (next is not null)
                {
                    next.Busy = true;
                    next.JobsRun++;
                    next.JobEndsAt = now + _options.JobDuration;
                    _lastJobAt = now;
                }
            }
        }
    }

    private static string EncodeJitConfig(RunnerState runner)
    {
        static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));
        var files = new JsonObject
        {
            [".runner"] = B64(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["agentId"] = runner.Id,
                ["agentName"] = runner.Name,
                ["poolId"] = runner.RunnerGroupId,
                ["serverUrl"] = "https://pipelines.actions.githubusercontent.com/fake",
                ["workFolder"] = "_work",
                ["ephemeral"] = true,
            })),
            [".credentials"] = B64(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["scheme"] = "OAuthAccessToken",
                ["data"] = new Dictionary<string, string> { ["token"] = Convert.ToHexString(RandomNumberGenerator.GetBytes(20)) },
            })),
            [".credentials_rsaparams"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(48)),
        };
        return B64(files.ToJsonString());
    }

    private static JsonObject RunnerJson(RunnerState runner) => new()
    {
        ["id"] = runner.Id,
        ["runner_group_id"] = runner.RunnerGroupId,
        ["name"] = runner.Name,
        ["os"] = "unknown",
        ["status"] = "online",
        ["busy"] = runner.Busy,
        ["ephemeral"] = true,
        ["labels"] = new JsonArray([.. runner.Labels.Select((l, i) => (JsonNode)new JsonObject
        {
            ["id"] = i + 1,
            ["name"] = l,
            ["type"] = l is "self-hosted" or "linux" or "macOS" or "x64" or "ARM64" ? "read-only" : "custom",
        })]),
    };

    private static object NotFoundBody() => new { message = "Not Found", documentation_url = Docs, status = "404" };

    private static object FaultBody(FakeFault fault) => fault.Status switch
    {
        HttpStatusCode.Forbidden when fault.RateLimitResetAfter is not null => new { message = "API rate limit exceeded for user ID 1.", documentation_url = "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting" },
        HttpStatusCode.Forbidden or HttpStatusCode.TooManyRequests => new { message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", documentation_url = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits" },
        HttpStatusCode.NotFound => NotFoundBody(),
        HttpStatusCode.Conflict => new { message = "Already exists - A runner with the name *** already exists.", documentation_url = Docs },
        HttpStatusCode.UnprocessableEntity => new { message = "Validation Failed", documentation_url = Docs },
        _ => new { message = "Server Error" },
    };

    private static IResult Answer(HttpStatusCode status, object body) => Results.Json(body, statusCode: (int)status);

    private sealed class RunnerState(long id, string name, string scope, int runnerGroupId, IReadOnlyList<string> labels, DateTimeOffset registeredAt)
    {
        public long Id { get; } = id;

        public string Name { get; } = name;

        public string Scope { get; } = scope;

        public int RunnerGroupId { get; } = runnerGroupId;

        public IReadOnlyList<string> Labels { get; } = labels;

        public DateTimeOffset RegisteredAt { get; } = registeredAt;

        public bool Busy { get; set; }

        public int JobsRun { get; set; }

        public DateTimeOffset JobEndsAt { get; set; } = DateTimeOffset.MaxValue;

        public FakeRunner ToRecord() => new(Id, Name, Scope, RunnerGroupId, Labels, Busy, JobsRun);
    }
}
