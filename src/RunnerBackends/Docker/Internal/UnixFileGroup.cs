using System.Runtime.InteropServices;

namespace RunnerBackends.Docker.Internal;

/// <summary>Reads the owning group id of a file, which .NET has no public API for.</summary>
internal static class UnixFileGroup
{
    // The runtime's own native shim (shipped with every .NET on Unix) exposes stat with a platform-independent struct
    // whose first fields (flags, mode, uid, gid) have not moved since .NET Core 1.0; libc's struct stat differs per
    // OS and architecture. The buffer is generously sized so that later fields can grow without harm.
    private const int GidOffset = 12;
    private const int BufferSize = 512;

    /// <summary>Returns the gid owning <paramref name="path"/>, or <see langword="null"/> when it cannot be read.</summary>
    public static uint? TryGetGroupId(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return null;
        }

        try
        {
            var buffer = new byte[BufferSize];
            return SystemNativeStat(path, buffer) == 0 ? BitConverter.ToUInt32(buffer, GidOffset) : null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    [DllImport("libSystem.Native", EntryPoint = "SystemNative_Stat", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SystemNativeStat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, [Out] byte[] output);
}
