namespace ConvGrad.Tests;

/// <summary>Locates the repository's files from the test binaries, so tests need nothing outside the clone.</summary>
internal static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    public static string GoldenDir => Path.Combine(RepoRoot, "tests", "data", "golden");

    public static IEnumerable<string> GoldenFiles => Directory.GetFiles(GoldenDir, "*.json").Order(StringComparer.Ordinal);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ConvGrad.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("cannot find the repository root (ConvGrad.slnx) above " + AppContext.BaseDirectory);
    }
}
