namespace ConvGrad.Tests;

/// <summary>Runs the CLI in-process and captures what it prints.</summary>
internal static class Cli
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = ConvGrad.Cli.Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>A fresh temporary folder, deleted by the caller.</summary>
    public static DirectoryInfo TempDir() => Directory.CreateTempSubdirectory("convgrad-test-");
}
