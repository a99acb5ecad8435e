using System.Globalization;

namespace ConvGrad.Data;

/// <summary>
/// A test seam: an <see cref="IFileStore"/> that blocks the process for good at its n-th writing operation (create,
/// fsync, rename, fsync of the folder, delete), after printing one line to stderr, so that a test's SIGKILL lands
/// exactly there. A create halts with half of its bytes written (a torn file). Reads are not counted.
/// </summary>
/// <remarks>
/// Enabled only by the environment variable <c>CONVGRAD_TEST_HALT_CHECKPOINT_AT=n</c> (read once, when checkpoints
/// are first used); without it <see cref="IFileStore.Default"/> is the local store itself, so the normal path pays
/// nothing. tests/ConvGrad.Tests/Training/KillAnywhereTests.cs uses it; it is not meant for anything else.
/// </remarks>
internal sealed class HaltingFileStore : IFileStore
{
    /// <summary>The environment variable that names the operation to halt at (1-based, counted over the process).</summary>
    public const string Variable = "CONVGRAD_TEST_HALT_CHECKPOINT_AT";

    /// <summary>The start of the line printed on stderr when halting.</summary>
    public const string Marker = "convgrad: test halt at checkpoint operation";

    private readonly IFileStore _inner;
    private readonly long _haltAt;
    private long _count;

    /// <summary>Wraps <paramref name="inner"/> so that operation <paramref name="haltAt"/> (1-based) halts.</summary>
    /// <param name="inner">The store that does the work.</param>
    /// <param name="haltAt">The writing operation to halt at.</param>
    public HaltingFileStore(IFileStore inner, long haltAt)
    {
        _inner = inner;
        _haltAt = haltAt;
    }

    /// <summary><paramref name="inner"/>, wrapped when <see cref="Variable"/> holds a positive number.</summary>
    /// <param name="inner">The store.</param>
    public static IFileStore FromEnvironment(IFileStore inner) =>
        long.TryParse(Environment.GetEnvironmentVariable(Variable), NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n > 0
            ? new HaltingFileStore(inner, n)
            : inner;

    public void CreateFolder(string folder) => _inner.CreateFolder(folder);

    public void Create(string path, ReadOnlySpan<byte> bytes)
    {
        if (Next())
        {
            _inner.Create(path, bytes[..(bytes.Length / 2)]);
            Halt($"create {Path.GetFileName(path)}, {bytes.Length / 2} of {bytes.Length} bytes written");
        }
        _inner.Create(path, bytes);
    }

    public void Sync(string path)
    {
        if (Next())
        {
            Halt($"before fsync of {Path.GetFileName(path)}");
        }
        _inner.Sync(path);
    }

    public void Rename(string from, string to)
    {
        if (Next())
        {
            Halt($"before rename of {Path.GetFileName(from)} to {Path.GetFileName(to)}");
        }
        _inner.Rename(from, to);
    }

    public void SyncFolder(string folder)
    {
        if (Next())
        {
            Halt("before fsync of the folder");
        }
        _inner.SyncFolder(folder);
    }

    public void Delete(string path)
    {
        if (Next())
        {
            Halt($"before deleting {Path.GetFileName(path)}");
        }
        _inner.Delete(path);
    }

    public byte[]? Read(string path) => _inner.Read(path);

    public IReadOnlyList<string> List(string folder) => _inner.List(folder);

    private bool Next() => Interlocked.Increment(ref _count) == _haltAt;

    private void Halt(string what)
    {
        Console.Error.WriteLine($"{Marker} {_haltAt}: {what}");
        Console.Error.Flush();
        Thread.Sleep(Timeout.Infinite);
    }
}
