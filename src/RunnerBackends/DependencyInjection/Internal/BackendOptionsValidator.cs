using Microsoft.Extensions.Options;
using RunnerBackends.Docker;
using RunnerBackends.Tart;

namespace RunnerBackends.DependencyInjection.Internal;

/// <summary>
/// Validates backend options with the same rules the backends apply at construction, so that a host fails at start
/// with every problem listed instead of at the first resolution of the backend.
/// </summary>
internal sealed class BackendOptionsValidator : IValidateOptions<DockerBackendOptions>, IValidateOptions<TartBackendOptions>
{
    public ValidateOptionsResult Validate(string? name, DockerBackendOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Result("Docker backend options", options.Validate());
    }

    public ValidateOptionsResult Validate(string? name, TartBackendOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Result("Tart backend options", options.Validate());
    }

    private static ValidateOptionsResult Result(string what, IReadOnlyList<string> problems) =>
        problems.Count == 0
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(problems.Select(p => $"{what}: {p}"));
}
