using System.Runtime.CompilerServices;

namespace FineXtract.Tests;

internal static class TestRuntime
{
    /// <summary>Tests run in parallel: libtorch's waiting threads must not spin against each other.</summary>
    [ModuleInitializer]
    internal static void Initialize() => TorchRuntime.Initialize();
}
