using System.Runtime.InteropServices;

namespace FineXtract;

/// <summary>
/// Process-wide libtorch settings, applied before libtorch loads. OpenMP threads that spin while waiting make
/// libtorch many times slower whenever anything else shares the cores (measured: tiny-UNet batch 8 went from 110 ms
/// to 2,950 ms per forward on 2 busy cores), so unless the user set OMP_WAIT_POLICY, waiting threads sleep.
/// </summary>
public static partial class TorchRuntime
{
    private static int _initialized;

    public static void Initialize()
    {
        if (Interlocked.Exchange(ref _initialized, 1) == 1) return;
        if (!OperatingSystem.IsWindows() && Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is null)
        {
            // .NET's Environment.SetEnvironmentVariable does not reach the native environment on Unix; libgomp
            // reads it when libtorch is first loaded, so set it there directly.
            SetEnv("OMP_WAIT_POLICY", "PASSIVE", 0);
        }
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
