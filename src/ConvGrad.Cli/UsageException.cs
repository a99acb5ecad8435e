namespace ConvGrad.Cli;

/// <summary>A bad command line: reported as one line and exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
