namespace ConvGrad.Cli;

/// <summary>Exit codes shared by every command.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int CheckFailed = 1;
    public const int BadUsage = 2;
}
