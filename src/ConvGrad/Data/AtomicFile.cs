using System.Runtime.InteropServices;
using System.Text;

namespace ConvGrad.Data;

/// <summary>
/// Writes a file so that a crash at any moment leaves either the old file or the complete new one, never a torn
/// mix: the content goes to a temporary file in the same folder, is flushed to disk (fsync), and is renamed over
/// the target (atomic on POSIX file systems); the folder is then flushed so the rename itself is durable.
/// </summary>
public static partial class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> with what <paramref name="write"/> puts into the stream it is given.</summary>
    /// <exception cref="IOException">The folder cannot be written; the target is left as it was.</exception>
    /// <param name="path">The file to replace.</param>
    /// <param name="write">Writes the contents to the stream it is given.</param>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(write);
        // The contents are made in memory first (files here are weights, logs and plots: megabytes), so that one
        // sequence of file operations below serves every atomic write, checkpoints included.
        using var buffer = new MemoryStream();
        write(buffer);
        Write(LocalFileStore.Instance, path, buffer.GetBuffer().AsSpan(0, checked((int)buffer.Length)));
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> to <paramref name="path"/> atomically through <paramref name="store"/>, one call per
    /// step: create and write a temporary file in the same folder, fsync it, rename it over the target, fsync the folder.
    /// </summary>
    /// <param name="store">The file operations (checkpoints; tests stand in for the disk).</param>
    /// <param name="path">The file to replace.</param>
    /// <param name="bytes">The contents.</param>
    internal static void Write(IFileStore store, string path, ReadOnlySpan<byte> bytes)
    {
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' names no file", nameof(path));
        string temp = Path.Combine(folder, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Random.Shared.Next():x8}.tmp");
        try
        {
            store.Create(temp, bytes);
            store.Sync(temp);
            store.Rename(temp, full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try
            {
                store.Delete(temp);
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
            }
            throw;
        }
        store.SyncFolder(folder);
    }

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically.</summary>
    /// <param name="path">The file to replace.</param>
    /// <param name="bytes">The contents.</param>
    public static void WriteAllBytes(string path, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        Write(path, s => s.Write(bytes));
    }

    /// <summary>Writes <paramref name="text"/> (UTF-8, no byte-order mark) to <paramref name="path"/> atomically.</summary>
    /// <param name="path">The file to replace.</param>
    /// <param name="text">The contents.</param>
    public static void WriteAllText(string path, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        WriteAllBytes(path, new UTF8Encoding(false).GetBytes(text));
    }

    /// <summary>Writes <paramref name="lines"/>, each ended by a newline, to <paramref name="path"/> atomically.</summary>
    /// <param name="path">The file to replace.</param>
    /// <param name="lines">The lines of the contents.</param>
    public static void WriteAllLines(string path, IEnumerable<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var sb = new StringBuilder();
        foreach (var line in lines)
        {
            sb.Append(line).Append('\n');
        }
        WriteAllText(path, sb.ToString());
    }

    /// <summary>fsync of the folder, so the rename survives a power loss (best effort; Linux only).</summary>
    /// <param name="folder">The folder.</param>
    internal static void SyncFolder(string folder)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        const int readOnlyDirectory = 0x10000; // O_RDONLY | O_DIRECTORY
        int fd = Open(folder, readOnlyDirectory);
        if (fd >= 0)
        {
            _ = FSync(fd);
            _ = Close(fd);
        }
    }

    [LibraryImport("libc.so.6", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc.so.6", EntryPoint = "fsync")]
    private static partial int FSync(int fd);

    [LibraryImport("libc.so.6", EntryPoint = "close")]
    private static partial int Close(int fd);
}
