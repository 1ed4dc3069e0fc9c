using System.Globalization;
using Microsoft.Extensions.Hosting;
using RunnerHost.Demo;
using RunnerHost.Hosting;

// runnerhost [--demo] [--duration SECONDS] [--backend docker|tart] [--Section:Key=value ...]
var demo = args.Contains("--demo");
TimeSpan? duration = null;
var rest = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--demo":
            break;
        case "--duration" when i + 1 < args.Length && double.TryParse(args[i + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds > 0:
            duration = TimeSpan.FromSeconds(seconds);
            i++;
            break;
        case "--duration":
            Console.Error.WriteLine("--duration needs a positive number of seconds.");
            return 64;
        default:
            rest.Add(args[i]);
            break;
    }
}

var overrides = new Dictionary<string, string?>();
if (duration is { } d)
{
    overrides["Keeper:RunFor"] = d.ToString("c", CultureInfo.InvariantCulture);
}

await using var demoEnvironment = demo ? await DemoEnvironment.StartAsync([.. rest]) : null;
if (demoEnvironment is not null)
{
    foreach (var (key, value) in demoEnvironment.Settings)
    {
        overrides.TryAdd(key, value);
    }
}

try
{
    using var host = RunnerHostApp.CreateBuilder([.. rest], overrides).Build();
    await host.RunAsync();
    return Environment.ExitCode;
}
catch (Microsoft.Extensions.Options.OptionsValidationException e)
{
    Console.Error.WriteLine("runnerhost: invalid configuration:");
    foreach (var failure in e.Failures)
    {
        Console.Error.WriteLine("  - " + failure);
    }

    return 2;
}
