namespace ConvGrad.Distributed;

/// <summary>
/// An MPI call returned an error (a peer failed, a message was truncated, ...). The message names the call and
/// gives Open MPI's own error text.
/// </summary>
/// <remarks>An <see cref="IOException"/>: communication failed, as a read or write can.</remarks>
public sealed class MpiException : IOException
{
    /// <summary>Creates the exception for the MPI call <paramref name="call"/> that returned <paramref name="errorCode"/>.</summary>
    /// <param name="call">The MPI function that failed.</param>
    /// <param name="errorCode">The MPI error code it returned.</param>
    /// <param name="errorText">The MPI error string.</param>
    public MpiException(string call, int errorCode, string errorText)
        : base($"{call} failed with MPI error {errorCode}: {errorText}")
    {
        Call = call;
        ErrorCode = errorCode;
    }

    /// <summary>The MPI function that failed, e.g. <c>MPI_Allreduce</c>.</summary>
    public string Call { get; }

    /// <summary>The MPI error code it returned.</summary>
    public int ErrorCode { get; }
}
