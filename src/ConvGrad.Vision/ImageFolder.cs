using System.Text;
using ConvGrad.Data;
using ConvGrad.Distributed;

namespace ConvGrad.Vision;

/// <summary>
/// Datasets from folders of images, laid out as torchvision's <c>ImageFolder</c>: one subfolder per class (the
/// folder's name is the class name; classes in ordinal order of their names), PNG or JPEG files in it.
/// </summary>
/// <remarks>
/// <para><b>Splits.</b> <c>DIR/train/&lt;class&gt;/…</c> beside <c>DIR/test/&lt;class&gt;/…</c> (or <c>DIR/val/</c> when there is
/// no <c>test/</c>): the second is held out. A bare <c>DIR/&lt;class&gt;/…</c> is split by <see cref="IsHeldOut"/>: a file
/// is held out when SplitMix64(FNV-1a("class/file name")) mod 5 = 0 — about one in five, decided by its own name
/// alone, so adding files never moves others between the sets (and <c>--seed</c> does not change it).</para>
/// <para><b>Shape.</b> Channels: 1 when every file is stored gray, else 3 (gray files are repeated into R, G and B),
/// unless <see cref="ImageFolderOptions.Channels"/> says. Size: <see cref="ImageFolderOptions.Size"/>, else the size
/// every file shares; files of mixed sizes without a size to resize to stop the load.</para>
/// <para><b>Bad input.</b> A file that cannot be used — not PNG or JPEG, corrupt or truncated, a 16-bit PNG — is
/// skipped with one warning line naming it (a dataset of thousands should not die of one bad file; the warning says
/// what was lost). Files whose names start with '.' are ignored. What makes the whole dataset wrong stops the load
/// with one line (<see cref="InvalidDataException"/>): no class folders, an empty class folder (after skipping),
/// mixed sizes without a resize, a held-out class the training set lacks, an empty training or held-out set.</para>
/// </remarks>
public static class ImageFolder
{
    /// <summary>Whether <paramref name="dir"/> looks like an image-folder dataset (subfolders, no IDX files).</summary>
    /// <param name="dir">The folder.</param>
    public static bool Looks(string dir) => Directory.Exists(dir) && Directory.EnumerateDirectories(dir).Any(d => !Path.GetFileName(d).StartsWith('.'));

    /// <summary>Loads the training and held-out sets of <paramref name="dir"/> (see the remarks for the layouts).</summary>
    /// <param name="dir">The dataset's folder.</param>
    /// <param name="options">Channels and size, or null for what the files say.</param>
    /// <param name="warn">Receives one line per skipped file, or null to drop them.</param>
    /// <exception cref="InvalidDataException">The layout or the files make no dataset (one line naming the folder or file).</exception>
    public static DataSplit Load(string dir, ImageFolderOptions? options = null, Action<string>? warn = null)
    {
        ArgumentNullException.ThrowIfNull(dir);
        options ??= new ImageFolderOptions();
        if (!Directory.Exists(dir))
        {
            throw new DirectoryNotFoundException($"{dir}: no such folder");
        }
        string train = Path.Combine(dir, "train");
        string? held = new[] { "test", "val" }.Select(n => Path.Combine(dir, n)).FirstOrDefault(Directory.Exists);
        List<(string Class, string File)> trainFiles, testFiles;
        IReadOnlyList<string> classes;
        string note;
        if (Directory.Exists(train) && held is not null)
        {
            (classes, trainFiles) = List(train);
            var (testClasses, files) = List(held);
            var unknown = testClasses.FirstOrDefault(c => !classes.Contains(c));
            if (unknown is not null)
            {
                throw new InvalidDataException($"{Path.Combine(held, unknown)}: class '{unknown}' is not among the training classes of {train}");
            }
            testFiles = files;
            note = $"{Path.GetFileName(held)}/ held out";
        }
        else
        {
            (classes, var all) = List(dir);
            trainFiles = all.Where(f => !IsHeldOut(f.Class, Path.GetFileName(f.File))).ToList();
            testFiles = all.Where(f => IsHeldOut(f.Class, Path.GetFileName(f.File))).ToList();
            note = "held out by file name: SplitMix64(FNV-1a(class/name)) mod 5 = 0";
        }

        // Probe every file's header: drops what is not an image and fixes the shape.
        var probed = Probe(trainFiles.Concat(testFiles).Select(f => f.File).ToList(), warn);
        var usable = probed.Where(p => p.Info is not null).ToList();
        if (usable.Count == 0)
        {
            throw new InvalidDataException($"{dir}: no readable PNG or JPEG images");
        }
        int channels = options.Channels ?? (usable.All(p => p.Info!.Value.IsGray) ? 1 : 3);
        (int h, int w) size;
        if (options.Size is { } s)
        {
            size = s;
        }
        else
        {
            var first = usable[0];
            var other = usable.FirstOrDefault(p => p.Info!.Value.Width != first.Info!.Value.Width || p.Info!.Value.Height != first.Info!.Value.Height);
            if (other.File is not null)
            {
                throw new InvalidDataException($"mixed image sizes: {first.File} is {first.Info!.Value.Width}x{first.Info!.Value.Height} but {other.File} is " +
                                               $"{other.Info!.Value.Width}x{other.Info!.Value.Height}; give a size to resize them to (--size HxW)");
            }
            size = (first.Info!.Value.Height, first.Info!.Value.Width);
        }
        var shape = new ImageShape(channels, size.h, size.w);
        var ok = probed.Where(p => p.Info is not null).Select(p => p.File).ToHashSet(StringComparer.Ordinal);
        var trainSet = Decode(trainFiles.Where(f => ok.Contains(f.File)).ToList(), classes, shape, warn, train: true, dir);
        var testSet = Decode(testFiles.Where(f => ok.Contains(f.File)).ToList(), classes, shape, warn, train: false, dir);
        return new DataSplit(trainSet, testSet, $"{dir} (image folders: {classes.Count} classes, {shape} images; {trainSet.Count} train, {testSet.Count} held out, {note})");
    }

    /// <summary>Whether a bare class folder's file goes to the held-out set: SplitMix64(FNV-1a-64 of "class/name" in UTF-8) mod 5 = 0.</summary>
    /// <param name="className">The class folder's name.</param>
    /// <param name="fileName">The file's name.</param>
    public static bool IsHeldOut(string className, string fileName)
    {
        ulong h = 0xCBF29CE484222325;
        foreach (byte b in Encoding.UTF8.GetBytes($"{className}/{fileName}"))
        {
            h = (h ^ b) * 0x100000001B3;
        }
        return SampleRandom.Mix(h) % 5 == 0;
    }

    /// <summary>The class folders of <paramref name="dir"/> (ordinal order) and their files (ordinal order within a class).</summary>
    private static (IReadOnlyList<string> Classes, List<(string Class, string File)> Files) List(string dir)
    {
        var classes = Directory.EnumerateDirectories(dir).Select(Path.GetFileName).Where(n => !n!.StartsWith('.')).Order(StringComparer.Ordinal).ToList();
        if (classes.Count == 0)
        {
            throw new InvalidDataException($"{dir}: no class folders (expected {dir}/<class>/<image>.png, or {dir}/train/<class>/ with {dir}/test/<class>/)");
        }
        var files = new List<(string, string)>();
        foreach (var c in classes)
        {
            var inClass = Directory.EnumerateFiles(Path.Combine(dir, c!)).Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal).ToList();
            if (inClass.Count == 0)
            {
                throw new InvalidDataException($"{Path.Combine(dir, c!)}: empty class folder (no image files)");
            }
            files.AddRange(inClass.Select(f => (c!, f)));
        }
        return (classes!, files);
    }

    private static List<(string File, ImageInfo? Info)> Probe(List<string> files, Action<string>? warn)
    {
        var infos = new ImageInfo?[files.Count];
        var errors = new string?[files.Count];
        Parallel.For(0, files.Count, i =>
        {
            try
            {
                infos[i] = ImageFile.Probe(files[i]);
            }
            catch (InvalidDataException e)
            {
                errors[i] = e.Message;
            }
        });
        for (int i = 0; i < files.Count; i++)
        {
            if (errors[i] is { } message)
            {
                warn?.Invoke($"{message}; skipped");
            }
        }
        return files.Select((f, i) => (f, infos[i])).ToList();
    }

    private static ImageSet Decode(List<(string Class, string File)> files, IReadOnlyList<string> classes, ImageShape shape, Action<string>? warn, bool train, string dir)
    {
        var pixels = new byte[(long)files.Count * shape.Length];
        var errors = new string?[files.Count];
        Parallel.For(0, files.Count, i =>
        {
            try
            {
                ImageFile.Read(files[i].File, shape, pixels.AsSpan(i * shape.Length, shape.Length));
            }
            catch (InvalidDataException e)
            {
                errors[i] = e.Message;
            }
        });
        var keep = new List<int>(files.Count);
        for (int i = 0; i < files.Count; i++)
        {
            if (errors[i] is { } message)
            {
                warn?.Invoke($"{message}; skipped");
            }
            else
            {
                keep.Add(i);
            }
        }
        var labels = files.Select(f => IndexOf(classes, f.Class)).ToArray();
        if (train)
        {
            var empty = classes.FirstOrDefault(c => !keep.Any(i => files[i].Class == c));
            if (empty is not null)
            {
                throw new InvalidDataException($"{dir}: class '{empty}' has no readable training images");
            }
        }
        if (keep.Count == 0)
        {
            throw new InvalidDataException($"{dir}: no readable {(train ? "training" : "held-out")} images");
        }
        var all = new ImageSet(pixels, labels, shape, classes, files.Select(f => f.File).ToArray());
        return keep.Count == files.Count ? all : all.Select(keep);
    }

    private static int IndexOf(IReadOnlyList<string> classes, string name)
    {
        for (int i = 0; i < classes.Count; i++)
        {
            if (classes[i] == name)
            {
                return i;
            }
        }
        throw new InvalidOperationException($"unknown class {name}");
    }
}

/// <summary>How <see cref="ImageFolder.Load"/> shapes the images.</summary>
public sealed record ImageFolderOptions
{
    /// <summary>1 (gray) or 3 (RGB); null: 1 when every file is gray, else 3.</summary>
    public int? Channels { get; init; }

    /// <summary>The (height, width) every image is resized to; null: the size all files share.</summary>
    public (int Height, int Width)? Size { get; init; }
}
