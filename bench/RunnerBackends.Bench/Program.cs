using RunnerBackends.Bench;

// Benchmarks measured side by side in one run, printed as tables with ratios (these machines are noisy: compare
// within a run, not across runs).
//   dotnet run -c Release --project bench/RunnerBackends.Bench -- docker [--runners 30] [--burst 100] [--concurrency 16]
//   dotnet run -c Release --project bench/RunnerBackends.Bench -- tart [--runs 10]
var mode = args.Length > 0 ? args[0] : "";
var options = BenchArguments.Parse(args.Skip(1));
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cts.Cancel();
};

return mode switch
{
    "docker" => await DockerBenchmark.RunAsync(options, cts.Token),
    "tart" => await TartBenchmark.RunAsync(options, cts.Token),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: RunnerBackends.Bench docker|tart [--name value ...]");
    return 64;
}
