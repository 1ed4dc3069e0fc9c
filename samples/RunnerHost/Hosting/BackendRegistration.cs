using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace RunnerHost.Hosting;

internal static class BackendRegistration
{
    // PENDING: replaced by the library's AddDockerRunnerBackend/AddTartRunnerBackend once the backends land.
    public static void Add(IServiceCollection services, IConfiguration configuration) =>
        throw new InvalidOperationException("backends not merged yet");
}
