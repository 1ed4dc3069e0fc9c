using System.Security.Cryptography;
using System.Text;

namespace RunnerBackends.Tart.Internal;

/// <summary>The names of the VMs a backend creates: all start with <c>&lt;prefix&gt;-</c> and follow the runner-name rule.</summary>
internal static class VmNames
{
    private const int HashLength = 8;

    /// <summary><c>&lt;prefix&gt;-&lt;runner name&gt;</c>; when that is too long, the runner name is cut and an 8-digit hash
    /// of the whole runner name is appended, so distinct runner names keep distinct VM names.</summary>
    public static string ForRunner(string prefix, string runnerName)
    {
        var name = $"{prefix}-{runnerName}";
        if (name.Length <= RunnerName.MaxLength)
        {
            return name;
        }

        var keep = RunnerName.MaxLength - prefix.Length - 2 - HashLength;
        return $"{prefix}-{runnerName[..keep]}-{Hash(runnerName)}";
    }

    /// <summary><c>&lt;prefix&gt;-pool-&lt;instance id&gt;-&lt;counter&gt;</c>: the instance id keeps two backends on one host apart.</summary>
    public static string ForPool(string prefix, string instanceId, long counter) => $"{prefix}-pool-{instanceId}-{counter}";

    public static bool HasPrefix(string name, string prefix) =>
        name.Length > prefix.Length + 1 && name.StartsWith(prefix, StringComparison.Ordinal) && name[prefix.Length] == '-';

    public static string NewInstanceId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));

    private static string Hash(string value) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)))[..HashLength];
}
