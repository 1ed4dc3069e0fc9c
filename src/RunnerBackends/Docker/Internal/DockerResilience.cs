using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace RunnerBackends.Docker.Internal;

/// <summary>The bounded retry used for idempotent engine calls (remove, wait, maintenance); never for create.</summary>
internal static class DockerResilience
{
    public const int MaxRetryAttempts = 3;

    public static readonly TimeSpan DefaultBaseDelay = TimeSpan.FromMilliseconds(200);

    public static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(2);

    public static ResiliencePipeline CreateRetryPipeline(TimeProvider timeProvider, ILogger logger, TimeSpan baseDelay) =>
        new ResiliencePipelineBuilder { TimeProvider = timeProvider }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(DockerErrors.IsTransient),
                MaxRetryAttempts = MaxRetryAttempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = baseDelay,
                MaxDelay = MaxDelay,
                OnRetry = args =>
                {
                    Log.RetryingDockerCall(
                        logger,
                        args.Context.OperationKey ?? "docker",
                        args.AttemptNumber + 1,
                        (long)args.RetryDelay.TotalMilliseconds,
                        args.Outcome.Exception);
                    return default;
                },
            })
            .Build();

    /// <summary>Runs <paramref name="operation"/> through <paramref name="pipeline"/>, naming it for the retry log.</summary>
    public static async Task ExecuteAsync(
        this ResiliencePipeline pipeline, string operationKey, Func<CancellationToken, Task> operation, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(operationKey, cancellationToken);
        try
        {
            await pipeline.ExecuteAsync(
                static async (ctx, op) => await op(ctx.CancellationToken).ConfigureAwait(false),
                context,
                operation).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>Runs <paramref name="operation"/> through <paramref name="pipeline"/>, naming it for the retry log.</summary>
    public static async Task<T> ExecuteAsync<T>(
        this ResiliencePipeline pipeline, string operationKey, Func<CancellationToken, Task<T>> operation, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(operationKey, cancellationToken);
        try
        {
            return await pipeline.ExecuteAsync(
                static async (ctx, op) => await op(ctx.CancellationToken).ConfigureAwait(false),
                context,
                operation).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }
}
