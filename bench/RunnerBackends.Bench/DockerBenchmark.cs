namespace RunnerBackends.Bench;

internal static class DockerBenchmark
{
    public static Task<int> RunAsync(BenchArguments options, CancellationToken cancellationToken)
    {
        _ = options;
        _ = cancellationToken;
        Console.Error.WriteLine("docker benchmark: not written yet");
        return Task.FromResult(1);
    }
}
