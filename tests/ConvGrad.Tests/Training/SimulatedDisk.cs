using ConvGrad.Data;

namespace ConvGrad.Tests.Training;

/// <summary>
/// An in-memory disk behind the checkpoints' <see cref="IFileStore"/> seam that knows what a crash keeps. A file's
/// contents reach the disk only when it is fsynced, and the names in a folder (created, renamed, deleted) only when
/// the folder is fsynced — the guarantees POSIX gives, and no more (ext4, XFS and others do lose un-fsynced data
/// behind a rename that did reach the journal: the zero-length files after a crash).
/// </summary>
/// <remarks>
/// <para>Operation <see cref="CrashAt"/> (1-based, writing operations only) crashes: a create writes half its bytes,
/// anything else is not done, and <see cref="SimulatedCrash"/> is thrown. Then <see cref="Kill"/> keeps everything
/// (SIGKILL: the page cache survives the process) and <see cref="PowerCut"/> keeps only what was durable.</para>
/// <para>Two broken writers, to show the checks can fail: <see cref="SkipFileSync"/> makes fsync of a file do nothing
/// (the writer without its fsync), <see cref="WriteInPlace"/> writes a temporary file's bytes straight into the file it
/// is to replace (the writer without its rename).</para>
/// </remarks>
internal sealed class SimulatedDisk : IFileStore
{
    private sealed class Inode
    {
        public byte[] Data { get; set; } = [];

        public byte[] Durable { get; set; } = [];
    }

    private Dictionary<string, Inode> _names = new(StringComparer.Ordinal);
    private Dictionary<string, Inode> _durableNames = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _inPlace = new(StringComparer.Ordinal);

    /// <summary>The writing operations done so far.</summary>
    public long Operations { get; private set; }

    /// <summary>The writing operation that crashes (1-based); none by default.</summary>
    public long CrashAt { get; set; } = long.MaxValue;

    /// <summary>The broken writer without fsync of files.</summary>
    public bool SkipFileSync { get; init; }

    /// <summary>The broken writer without rename: a temporary file's bytes go straight into the target.</summary>
    public bool WriteInPlace { get; init; }

    /// <summary>The files as they are now (path → bytes).</summary>
    public IReadOnlyDictionary<string, byte[]> Files => _names.ToDictionary(kv => kv.Key, kv => kv.Value.Data, StringComparer.Ordinal);

    /// <summary>After a crash: the process died, the machine did not; everything written stays.</summary>
    public void Kill() => CrashAt = long.MaxValue;

    /// <summary>After a crash: the power went; only fsynced contents under fsynced names stay (a name whose contents never were is an empty file).</summary>
    public void PowerCut()
    {
        CrashAt = long.MaxValue;
        foreach (var inode in _durableNames.Values.Distinct())
        {
            inode.Data = inode.Durable;
        }
        _names = new Dictionary<string, Inode>(_durableNames, StringComparer.Ordinal);
        _inPlace.Clear();
    }

    public void CreateFolder(string folder)
    {
    }

    public void Create(string path, ReadOnlySpan<byte> bytes)
    {
        bool crash = Next();
        string target = path;
        if (WriteInPlace && Target(path) is { } t)
        {
            // open(target, O_TRUNC) and write: the old contents are gone at once.
            _inPlace[path] = target = t;
        }
        else if (_names.ContainsKey(path))
        {
            throw new IOException($"{path} exists");
        }
        if (!_names.TryGetValue(target, out var inode))
        {
            _names[target] = inode = new Inode();
        }
        inode.Data = (crash ? bytes[..(bytes.Length / 2)] : bytes).ToArray();
        if (crash)
        {
            throw new SimulatedCrash();
        }
    }

    public void Sync(string path)
    {
        Crash();
        var inode = _names[_inPlace.GetValueOrDefault(path, path)];
        if (!SkipFileSync)
        {
            inode.Durable = inode.Data;
        }
    }

    public void Rename(string from, string to)
    {
        Crash();
        if (_inPlace.Remove(from))
        {
            return;
        }
        _names[to] = _names[from];
        _names.Remove(from);
    }

    public void SyncFolder(string folder)
    {
        Crash();
        _durableNames = new Dictionary<string, Inode>(_names, StringComparer.Ordinal);
    }

    public void Delete(string path)
    {
        Crash();
        _names.Remove(path);
    }

    public byte[]? Read(string path) => _names.TryGetValue(path, out var inode) ? inode.Data.ToArray() : null;

    public IReadOnlyList<string> List(string folder) =>
        _names.Keys.Where(p => Path.GetDirectoryName(p) == Path.TrimEndingDirectorySeparator(folder)).Select(p => Path.GetFileName(p)!).ToList();

    /// <summary>The file a temporary file <c>.NAME.PID.RANDOM.tmp</c> (<see cref="AtomicFile"/>'s) is to replace, or null.</summary>
    private static string? Target(string temp)
    {
        var parts = Path.GetFileName(temp).Split('.');
        return parts.Length >= 5 && parts[0] == "" && parts[^1] == "tmp"
            ? Path.Combine(Path.GetDirectoryName(temp)!, string.Join('.', parts[1..^3]))
            : null;
    }

    private bool Next() => ++Operations == CrashAt;

    private void Crash()
    {
        if (Next())
        {
            throw new SimulatedCrash();
        }
    }
}

/// <summary>The crash of <see cref="SimulatedDisk.CrashAt"/>: the process (or the machine) stops here.</summary>
internal sealed class SimulatedCrash : Exception
{
    public SimulatedCrash()
        : base("simulated crash")
    {
    }
}
