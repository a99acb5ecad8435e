namespace ConvGrad.Cli;

/// <summary>One <c>convgrad</c> sub-command.</summary>
internal interface ICommand
{
    /// <summary>The word after <c>convgrad</c>.</summary>
    string Name { get; }

    /// <summary>One line for the command list.</summary>
    string Summary { get; }

    /// <summary>The usage text shown by <c>convgrad help NAME</c>.</summary>
    string Usage { get; }

    /// <summary>Options that take no value.</summary>
    IReadOnlySet<string> Flags { get; }

    /// <summary>Runs the command; returns the exit code (0 success, 1 a check failed). Throws <see cref="UsageException"/> for bad usage.</summary>
    int Run(Args args, TextWriter stdout, TextWriter stderr);
}

/// <summary>Exit codes shared by every command.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int CheckFailed = 1;
    public const int BadUsage = 2;
}
