namespace ConvGrad.Distributed;

/// <summary>
/// Open MPI is missing, incompatible, or the process was not launched by <c>mpirun</c> when a distributed run was
/// asked for. The message is one line that says what to do (e.g. which package to install).
/// </summary>
/// <remarks>
/// A <see cref="PlatformNotSupportedException"/>, so a command-line front end that prints
/// <see cref="NotSupportedException"/> messages as one line prints this one too.
/// </remarks>
public sealed class MpiUnavailableException : PlatformNotSupportedException
{
    /// <summary>Creates the exception with its one-line message.</summary>
    /// <param name="message">The message.</param>
    public MpiUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its one-line message and the error that caused it.</summary>
    /// <param name="message">The message.</param>
    /// <param name="inner">The exception that caused this one.</param>
    public MpiUnavailableException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
