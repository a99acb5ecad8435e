namespace ConvGrad.Cli;

/// <summary>Finds the repository's bundled files from the working directory or the binaries.</summary>
internal static class RepoPaths
{
    public static string? Root()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "ConvGrad.slnx")))
                {
                    return d.FullName;
                }
            }
        }
        return null;
    }

    public static string? BundledData()
    {
        string? root = Root();
        string? dir = root is null ? null : Path.Combine(root, "data", "mnist-10k");
        return dir is not null && Directory.Exists(dir) ? dir : null;
    }
}
