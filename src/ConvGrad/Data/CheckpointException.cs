namespace ConvGrad.Data;

/// <summary>
/// A checkpoint cannot be used: it is missing, corrupt, or of another model. The message is one line naming the
/// folder and what is wrong; nothing was overwritten.
/// </summary>
/// <remarks>An <see cref="IOException"/>, which the command line prints as one line (exit code 2).</remarks>
public sealed class CheckpointException : IOException
{
    /// <summary>Creates the exception with its one-line message.</summary>
    /// <param name="message">The message.</param>
    public CheckpointException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its one-line message and the error that caused it.</summary>
    /// <param name="message">The message.</param>
    /// <param name="inner">The exception that caused this one.</param>
    public CheckpointException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
