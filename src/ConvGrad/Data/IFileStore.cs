namespace ConvGrad.Data;

/// <summary>
/// The file operations checkpoints are written and read with, one member per system call that matters to crash
/// safety (create and write, fsync, rename, fsync of the folder, unlink), so that tests can stand in for the disk.
/// </summary>
/// <remarks>
/// An internal test seam, not an option: production always uses <see cref="LocalFileStore"/> (through
/// <see cref="Default"/>). The tests put a simulated disk behind it that keeps only what was fsynced when the power is
/// cut, or that writes in place (no rename), to show that the checkpoint writer needs each step; and
/// <see cref="HaltingFileStore"/> (environment variable <c>CONVGRAD_TEST_HALT_CHECKPOINT_AT</c>) blocks a
/// <c>convgrad train</c> process at its n-th checkpoint operation so that a test's SIGKILL lands inside a write.
/// </remarks>
internal interface IFileStore
{
    /// <summary>The store checkpoints use: the local file system, halting where the test variable says (read once).</summary>
    static IFileStore Default { get; } = HaltingFileStore.FromEnvironment(LocalFileStore.Instance);

    /// <summary>Creates <paramref name="folder"/> (and its parents) if it does not exist.</summary>
    /// <param name="folder">The folder.</param>
    void CreateFolder(string folder);

    /// <summary>Creates <paramref name="path"/>, which must not exist, holding <paramref name="bytes"/> (not yet durable: see <see cref="Sync"/>).</summary>
    /// <param name="path">The new file.</param>
    /// <param name="bytes">Its contents.</param>
    void Create(string path, ReadOnlySpan<byte> bytes);

    /// <summary>fsync(2): the file's contents reach the disk.</summary>
    /// <param name="path">The file.</param>
    void Sync(string path);

    /// <summary>rename(2): <paramref name="to"/> becomes <paramref name="from"/>'s file at once (durable once the folder is synced).</summary>
    /// <param name="from">The file to rename.</param>
    /// <param name="to">The name it takes, replacing any file of that name.</param>
    void Rename(string from, string to);

    /// <summary>fsync(2) of the folder: the names in it (created, renamed, deleted) reach the disk.</summary>
    /// <param name="folder">The folder.</param>
    void SyncFolder(string folder);

    /// <summary>unlink(2), if the file exists.</summary>
    /// <param name="path">The file.</param>
    void Delete(string path);

    /// <summary>The file's contents, or null when there is no such file.</summary>
    /// <param name="path">The file.</param>
    byte[]? Read(string path);

    /// <summary>The names (not paths) of the files in <paramref name="folder"/>; none when it does not exist.</summary>
    /// <param name="folder">The folder.</param>
    IReadOnlyList<string> List(string folder);
}
