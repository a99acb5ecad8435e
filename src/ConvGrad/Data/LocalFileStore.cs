namespace ConvGrad.Data;

/// <summary>The <see cref="IFileStore"/> of the local file system (what checkpoints are always written with outside tests).</summary>
internal sealed class LocalFileStore : IFileStore
{
    private LocalFileStore()
    {
    }

    /// <summary>The one instance.</summary>
    public static LocalFileStore Instance { get; } = new();

    public void CreateFolder(string folder) => Directory.CreateDirectory(folder);

    public void Create(string path, ReadOnlySpan<byte> bytes)
    {
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        stream.Write(bytes);
    }

    public void Sync(string path)
    {
        // fsync needs a handle open for writing (FileStream only flushes to disk then); FileMode.Open truncates nothing.
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1);
        stream.Flush(flushToDisk: true);
    }

    public void Rename(string from, string to) => File.Move(from, to, overwrite: true);

    public void SyncFolder(string folder) => AtomicFile.SyncFolder(folder);

    public void Delete(string path) => File.Delete(path);

    public byte[]? Read(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
    }

    public IReadOnlyList<string> List(string folder) =>
        Directory.Exists(folder) ? Directory.EnumerateFiles(folder).Select(f => Path.GetFileName(f)).ToList() : [];
}
