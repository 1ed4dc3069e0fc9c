namespace RunnerBackends.Bench;

internal static class TartBenchmark
{
    public static Task<int> RunAsync(BenchArguments options, CancellationToken cancellationToken)
    {
        _ = options;
        _ = cancellationToken;
        Console.Error.WriteLine("tart benchmark: not written yet");
        return Task.FromResult(1);
    }
}
