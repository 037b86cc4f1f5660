namespace FineXtract;

/// <summary>
/// A problem with the user's input (a file, a model, an option) that the CLI reports as one line.
/// Anything else that escapes is a bug.
/// </summary>
public class FineXtractException : Exception
{
    public FineXtractException(string message) : base(message) { }
    public FineXtractException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A checkpoint file that is malformed, truncated, of an unsupported kind or unsafe.</summary>
public sealed class CheckpointFormatException : FineXtractException
{
    public CheckpointFormatException(string message) : base(message) { }
    public CheckpointFormatException(string message, Exception inner) : base(message, inner) { }
}
