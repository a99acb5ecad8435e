using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ConvGrad.Data;

/// <summary>
/// Everything a training run needs to continue after a crash: the model's tensors, the optimiser's state, the
/// random-number state and the number of epochs completed, with free-form string metadata (schedule position,
/// rank count, ...).
/// </summary>
/// <remarks>
/// <para>On disk, in the run's output folder: the last two checkpoints' tensor files
/// <c>checkpoint-eNNNN-XXXXXXXX.safetensors</c> (the tensors, under <c>model/</c>, <c>optimizer/</c> and <c>rng</c>)
/// and one manifest <c>checkpoint.json</c>: format, model name, architecture signature, and for each checkpoint,
/// newest first, its epoch, its tensor file's name, size and SHA-256, every tensor's name, type and shape, its
/// metadata and details.</para>
/// <para>Saving is crash-safe: the tensor file is written under a fresh name (temporary file, fsync, rename, fsync of
/// the folder), then the manifest is replaced the same way — that rename is the commit — and only then are older
/// tensor files deleted. A crash at any point, a power cut included, leaves a manifest whose files are complete.</para>
/// <para>Loading checks everything before returning — manifest, model name, architecture, size, checksum, tensor
/// list — and changes nothing; the caller applies the returned state. A newest checkpoint whose tensor file is
/// damaged falls back to the previous one, with a warning.</para>
/// </remarks>
public sealed class Checkpoint
{
    /// <summary>The manifest's file name in the checkpoint folder.</summary>
    public const string ManifestName = "checkpoint.json";

    private const string Format = "convgrad-checkpoint/2";
    private const string FormatOne = "convgrad-checkpoint/1";
    private const string FilePrefix = "checkpoint-e";
    private const string FileSuffix = ".safetensors";
    private const string ModelPrefix = "model/";
    private const string OptimizerPrefix = "optimizer/";
    private const string RngName = "rng";

    /// <summary>Creates a checkpoint from the run's current state (the tensors are referenced, not copied).</summary>
    /// <param name="modelName">The model's name (e.g. <c>convgrad-lenet</c>); a checkpoint only loads into the same name.</param>
    /// <param name="epoch">Epochs completed (&gt;= 0).</param>
    /// <param name="model">The model's state (<c>Module.State()</c>).</param>
    /// <param name="optimizer">The optimiser's state (e.g. momentum buffers), names unique.</param>
    /// <param name="randomState">The random-number generators' state words.</param>
    /// <param name="metadata">Further strings to keep (e.g. the schedule's step), or null.</param>
    /// <param name="details">A JSON object the caller defines (a training run's typed state), kept as it is in the manifest; or null.</param>
    /// <exception cref="ArgumentException">An empty model name, a negative epoch, or a name used twice.</exception>
    public Checkpoint(string modelName, int epoch, IEnumerable<SafeTensor> model, IEnumerable<SafeTensor> optimizer,
        IEnumerable<ulong> randomState, IReadOnlyDictionary<string, string>? metadata = null, JsonObject? details = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelName);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(randomState);
        if (epoch < 0)
        {
            throw new ArgumentException($"epoch must be >= 0; got {epoch}", nameof(epoch));
        }
        ModelName = modelName;
        Epoch = epoch;
        Model = model.ToList();
        Optimizer = optimizer.ToList();
        RandomState = randomState.ToArray();
        Metadata = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        Details = details?.DeepClone().AsObject();
        foreach (var (list, what) in new[] { (Model, "model"), (Optimizer, "optimizer") })
        {
            var twice = list.GroupBy(t => t.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
            if (twice is not null)
            {
                throw new ArgumentException($"{what} tensor name '{twice.Key}' is used twice", what);
            }
        }
        Architecture = ArchitectureOf(Model);
    }

    /// <summary>The model's name.</summary>
    public string ModelName { get; }

    /// <summary>The architecture signature: a hash of the model tensors' names, types and shapes, in order.</summary>
    public string Architecture { get; }

    /// <summary>Epochs completed when the checkpoint was taken.</summary>
    public int Epoch { get; }

    /// <summary>The model's tensors.</summary>
    public IReadOnlyList<SafeTensor> Model { get; }

    /// <summary>The optimiser's tensors.</summary>
    public IReadOnlyList<SafeTensor> Optimizer { get; }

    /// <summary>The random-number state words.</summary>
    public IReadOnlyList<ulong> RandomState { get; }

    /// <summary>The metadata strings.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The caller's JSON object (see the constructor), or null.</summary>
    public JsonObject? Details { get; }

    /// <summary>The model's tensors by name, ready for <c>Module.LoadState</c>.</summary>
    public IReadOnlyDictionary<string, SafeTensor> ModelState => Model.ToDictionary(t => t.Name, StringComparer.Ordinal);

    /// <summary>The optimiser's tensors by name.</summary>
    public IReadOnlyDictionary<string, SafeTensor> OptimizerState => Optimizer.ToDictionary(t => t.Name, StringComparer.Ordinal);

    /// <summary>The architecture signature of a model's state: SHA-256 (first 16 hex digits) of every tensor's name, type and shape, in order.</summary>
    /// <param name="model">The model's tensors.</param>
    public static string ArchitectureOf(IEnumerable<SafeTensor> model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var text = new StringBuilder();
        foreach (var t in model)
        {
            text.Append(t.Name).Append('|').Append(t.DType).Append('|').Append(string.Join('x', t.Shape)).Append('\n');
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
    }

    /// <summary>Whether <paramref name="folder"/> holds a checkpoint manifest.</summary>
    /// <param name="folder">The checkpoint folder.</param>
    public static bool Exists(string folder) => File.Exists(Path.Combine(folder, ManifestName));

    /// <summary>
    /// Saves the checkpoint into <paramref name="folder"/> (created if needed), crash-safely: until the new manifest
    /// is in place the previous checkpoints stay complete and are what <see cref="Load(string, string, IEnumerable{SafeTensor}, Action{string})"/> finds. The manifest then
    /// lists this checkpoint and the newest intact earlier one of the same model (the fallback if this one is ever
    /// found corrupt); other tensor files are deleted.
    /// </summary>
    /// <param name="folder">The checkpoint folder.</param>
    public void Save(string folder) => Save(folder, IFileStore.Default);

    /// <summary><see cref="Save(string)"/> through <paramref name="store"/> (tests stand in for the disk).</summary>
    /// <param name="folder">The checkpoint folder.</param>
    /// <param name="store">The file operations.</param>
    internal void Save(string folder, IFileStore store)
    {
        ArgumentNullException.ThrowIfNull(folder);
        store.CreateFolder(folder);
        string file = $"{FilePrefix}{Epoch:D4}-{RandomNumberGenerator.GetHexString(8, lowercase: true)}{FileSuffix}";
        var tensors = Model.Select(t => Rename(t, ModelPrefix + t.Name))
            .Concat(Optimizer.Select(t => Rename(t, OptimizerPrefix + t.Name)))
            .Append(RngTensor())
            .ToList();
        byte[] bytes = SafeTensorsFile.Encode(tensors, new Dictionary<string, string> { ["format"] = Format, ["model"] = ModelName });
        // 1. The tensor file, under a fresh name: temporary file, fsync, rename, fsync of the folder.
        AtomicFile.Write(store, Path.Combine(folder, file), bytes);
        var entry = new JsonObject
        {
            ["epoch"] = Epoch,
            ["file"] = file,
            ["bytes"] = bytes.LongLength,
            ["sha256"] = Convert.ToHexStringLower(SHA256.HashData(bytes)),
            ["tensors"] = new JsonArray(tensors.Select(t => (JsonNode)new JsonObject
            {
                ["name"] = t.Name,
                ["dtype"] = t.DType.ToString(),
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()),
            }).ToArray()),
            ["metadata"] = new JsonObject(Metadata.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
        };
        if (Details is not null)
        {
            entry["details"] = Details.DeepClone();
        }
        var previous = PreviousEntry(folder, store);
        var manifest = new JsonObject
        {
            ["format"] = Format,
            ["model"] = ModelName,
            ["architecture"] = Architecture,
            ["checkpoints"] = previous is null ? new JsonArray(entry) : new JsonArray(entry, previous),
        };
        // 2. The manifest, the same way: its rename is the commit.
        AtomicFile.Write(store, Path.Combine(folder, ManifestName),
            Encoding.UTF8.GetBytes(manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n"));
        // 3. Only now, with a manifest in place that no longer names them: older tensor files, and the temporary files
        //    of saves that a crash interrupted.
        string? kept = previous?["file"]?.GetValue<string>();
        foreach (var name in store.List(folder))
        {
            bool oldTensors = name.StartsWith(FilePrefix, StringComparison.Ordinal) && name.EndsWith(FileSuffix, StringComparison.Ordinal) && name != file && name != kept;
            bool leftover = (name.StartsWith("." + FilePrefix, StringComparison.Ordinal) || name.StartsWith($".{ManifestName}.", StringComparison.Ordinal))
                            && name.EndsWith(".tmp", StringComparison.Ordinal);
            if (oldTensors || leftover)
            {
                store.Delete(Path.Combine(folder, name));
            }
        }
    }

    /// <summary>
    /// The entry of the manifest in <paramref name="folder"/> to keep beside this checkpoint: the newest of an earlier
    /// epoch, of this model and architecture, whose tensor file is intact; null when there is none (or no readable manifest).
    /// </summary>
    private JsonObject? PreviousEntry(string folder, IFileStore store)
    {
        try
        {
            if (store.Read(Path.Combine(folder, ManifestName)) is not { } text || JsonNode.Parse(text) is not JsonObject manifest
                || manifest["model"]?.GetValue<string>() != ModelName || manifest["architecture"]?.GetValue<string>() != Architecture)
            {
                return null;
            }
            foreach (var entry in Entries(manifest) ?? [])
            {
                if (entry["epoch"]?.GetValue<long>() < Epoch && entry["file"]?.GetValue<string>() is { } file && file == Path.GetFileName(file)
                    && store.Read(Path.Combine(folder, file)) is { } bytes && bytes.LongLength == entry["bytes"]?.GetValue<long>()
                    && Convert.ToHexStringLower(SHA256.HashData(bytes)) == entry["sha256"]?.GetValue<string>())
                {
                    return entry.DeepClone().AsObject();
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or IOException)
        {
            // A damaged manifest keeps nothing: this save replaces it.
        }
        return null;
    }

    /// <summary>
    /// The checkpoint entries of a manifest, newest first: its <c>checkpoints</c> array (format 2), or the manifest
    /// itself (format 1, one checkpoint); null when it has neither.
    /// </summary>
    private static List<JsonObject>? Entries(JsonObject manifest) =>
        manifest["format"]?.GetValue<string>() == FormatOne ? [manifest]
        : manifest["checkpoints"] is JsonArray list ? list.Select(e => e as JsonObject ?? throw new FormatException("a checkpoint entry is not a JSON object")).ToList()
        : null;

    /// <summary>
    /// Loads the newest intact checkpoint in <paramref name="folder"/>, refusing one of another model or architecture,
    /// or a folder whose checkpoints are all incomplete or corrupt. Reads only; the caller applies the result.
    /// </summary>
    /// <remarks>
    /// When the newest checkpoint's tensor file is missing, truncated or fails its SHA-256, the previous one the manifest
    /// lists is loaded instead and <paramref name="fallback"/> is told why, in one line.
    /// </remarks>
    /// <param name="folder">The run's output folder.</param>
    /// <param name="modelName">The model this run trains.</param>
    /// <param name="model">This run's model state (names, types and shapes are compared; values are not read).</param>
    /// <param name="fallback">Called with a one-line warning when the previous checkpoint is loaded because the newest is corrupt; or null.</param>
    /// <exception cref="CheckpointException">No checkpoint, a corrupt one (and no intact previous one), or one of another model (one-line message).</exception>
    public static Checkpoint Load(string folder, string modelName, IEnumerable<SafeTensor> model, Action<string>? fallback = null) =>
        Load(folder, modelName, model, IFileStore.Default, fallback);

    /// <summary><see cref="Load(string, string, IEnumerable{SafeTensor}, Action{string}?)"/> through <paramref name="store"/>.</summary>
    /// <param name="folder">The run's output folder.</param>
    /// <param name="modelName">The model this run trains.</param>
    /// <param name="model">This run's model state.</param>
    /// <param name="store">The file operations.</param>
    /// <param name="fallback">Told when the previous checkpoint is loaded, or null.</param>
    internal static Checkpoint Load(string folder, string modelName, IEnumerable<SafeTensor> model, IFileStore store, Action<string>? fallback)
    {
        ArgumentNullException.ThrowIfNull(folder);
        ArgumentNullException.ThrowIfNull(modelName);
        ArgumentNullException.ThrowIfNull(model);
        try
        {
            return LoadChecked(folder, modelName, model, store, fallback);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or InvalidCastException or ArgumentException or OverflowException)
        {
            // A manifest edited or damaged into valid JSON of the wrong shape.
            throw new CheckpointException($"{Path.Combine(folder, ManifestName)}: corrupt checkpoint: {e.Message}", e);
        }
    }

    private static Checkpoint LoadChecked(string folder, string modelName, IEnumerable<SafeTensor> model, IFileStore store, Action<string>? fallback)
    {
        string manifestPath = Path.Combine(folder, ManifestName);
        if (store.Read(manifestPath) is not { } manifestBytes)
        {
            throw new CheckpointException($"{folder}: no checkpoint to resume from ({ManifestName} is missing)");
        }
        CheckpointException Corrupt(string what) => new($"{manifestPath}: corrupt checkpoint: {what}");
        JsonObject manifest;
        try
        {
            manifest = JsonNode.Parse(manifestBytes) as JsonObject ?? throw Corrupt("the manifest is not a JSON object");
        }
        catch (JsonException e)
        {
            throw Corrupt($"the manifest is not valid JSON ({e.Message})");
        }
        string Text(string key) => manifest[key] is JsonValue v && v.TryGetValue(out string? s) ? s : throw Corrupt($"the manifest has no '{key}'");

        if (Text("format") is not (Format or FormatOne))
        {
            throw Corrupt($"format '{Text("format")}' is not {Format}");
        }
        string savedModel = Text("model");
        if (savedModel != modelName)
        {
            throw new CheckpointException($"{folder}: the checkpoint is of model '{savedModel}', not '{modelName}'; use another --out or start without --resume");
        }
        var expected = model.ToList();
        string architecture = ArchitectureOf(expected);
        var entries = Entries(manifest);
        if (Text("architecture") != architecture)
        {
            throw new CheckpointException(
                $"{folder}: the checkpoint is of another '{modelName}' architecture ({Text("architecture")}, this model is {architecture}): {FirstDifference(entries?.FirstOrDefault(), expected)}");
        }
        if (entries is not { Count: > 0 })
        {
            throw Corrupt("the manifest lists no checkpoints");
        }
        var problems = new List<(string Epoch, string What)>();
        foreach (var entry in entries)
        {
            try
            {
                var checkpoint = LoadEntry(folder, entry, savedModel, architecture, store);
                if (problems.Count > 0)
                {
                    fallback?.Invoke($"{manifestPath}: the newest checkpoint (epoch {problems[0].Epoch}) is corrupt: {problems[0].What}; " +
                                     $"loaded the previous one (epoch {checkpoint.Epoch}) instead");
                }
                return checkpoint;
            }
            catch (EntryException e)
            {
                problems.Add((entry["epoch"]?.ToJsonString() ?? "?", e.Message));
            }
        }
        throw Corrupt(string.Join("; ", problems.Select((p, i) => i == 0 ? p.What : $"the previous checkpoint (epoch {p.Epoch}) is corrupt too: {p.What}")));
    }

    /// <summary>One checkpoint of a manifest, checked: its tensor file's size, SHA-256 and tensor list.</summary>
    /// <exception cref="EntryException">Anything wrong with this checkpoint (another one may still be intact).</exception>
    private static Checkpoint LoadEntry(string folder, JsonObject entry, string savedModel, string architecture, IFileStore store)
    {
        try
        {
            return LoadEntryChecked(folder, entry, savedModel, architecture, store);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or InvalidCastException or ArgumentException or OverflowException)
        {
            throw new EntryException(e.Message);
        }
    }

    private static Checkpoint LoadEntryChecked(string folder, JsonObject entry, string savedModel, string architecture, IFileStore store)
    {
        static EntryException Corrupt(string what) => new(what);
        string Text(string key) => entry[key] is JsonValue v && v.TryGetValue(out string? s) ? s : throw Corrupt($"the manifest has no '{key}'");
        long Number(string key) => entry[key] is JsonValue v && v.TryGetValue(out long n) ? n : throw Corrupt($"the manifest has no number '{key}'");

        long epoch = Number("epoch");
        string file = Text("file");
        if (file != Path.GetFileName(file) || epoch is < 0 or > int.MaxValue)
        {
            throw Corrupt($"file '{file}' or epoch {epoch} is not valid");
        }
        string tensorPath = Path.Combine(folder, file);
        if (store.Read(tensorPath) is not { } bytes)
        {
            throw Corrupt($"its tensor file {file} is missing");
        }
        if (bytes.LongLength != Number("bytes"))
        {
            throw Corrupt($"{file} has {bytes.LongLength} bytes; the manifest says {Number("bytes")} (truncated?)");
        }
        string sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (sha != Text("sha256"))
        {
            throw Corrupt($"{file} has SHA-256 {sha[..16]}…; the manifest says {Text("sha256")[..Math.Min(16, Text("sha256").Length)]}…");
        }
        IReadOnlyList<SafeTensor> tensors;
        try
        {
            tensors = SafeTensorsFile.Decode(bytes, tensorPath);
        }
        catch (InvalidDataException e)
        {
            throw Corrupt(e.Message);
        }
        var listed = (entry["tensors"] as JsonArray ?? throw Corrupt("the manifest has no tensor list"))
            .Select(n => $"{n?["name"]}|{n?["dtype"]}|{string.Join('x', (n?["shape"] as JsonArray ?? []).Select(d => d?.ToString()))}");
        var found = tensors.Select(t => $"{t.Name}|{t.DType}|{string.Join('x', t.Shape)}");
        if (!listed.SequenceEqual(found, StringComparer.Ordinal))
        {
            throw Corrupt($"the tensors of {file} differ from the manifest's list");
        }
        var modelTensors = tensors.Where(t => t.Name.StartsWith(ModelPrefix, StringComparison.Ordinal)).Select(t => Rename(t, t.Name[ModelPrefix.Length..])).ToList();
        var optimizerTensors = tensors.Where(t => t.Name.StartsWith(OptimizerPrefix, StringComparison.Ordinal)).Select(t => Rename(t, t.Name[OptimizerPrefix.Length..])).ToList();
        var rng = tensors.FirstOrDefault(t => t.Name == RngName) ?? throw Corrupt($"{file} has no '{RngName}' tensor");
        if (rng.DType != SafeTensorDType.I64 || rng.Shape.Length != 1)
        {
            throw Corrupt($"'{RngName}' must be a vector of I64");
        }
        var words = new ulong[rng.Shape[0]];
        for (int i = 0; i < words.Length; i++)
        {
            words[i] = BinaryPrimitives.ReadUInt64LittleEndian(rng.Data.AsSpan(8 * i));
        }
        var metadata = (entry["metadata"] as JsonObject ?? [])
            .ToDictionary(kv => kv.Key, kv => kv.Value?.ToString() ?? "", StringComparer.Ordinal);
        var details = entry["details"] switch
        {
            null => null,
            JsonObject o => o,
            _ => throw Corrupt("'details' is not a JSON object"),
        };
        var checkpoint = new Checkpoint(savedModel, (int)epoch, modelTensors, optimizerTensors, words, metadata, details);
        if (checkpoint.Architecture != architecture)
        {
            throw Corrupt($"the model tensors of {file} do not match its manifest's architecture");
        }
        return checkpoint;
    }

    private SafeTensor RngTensor()
    {
        var bytes = new byte[8 * RandomState.Count];
        for (int i = 0; i < RandomState.Count; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8 * i), RandomState[i]);
        }
        return new SafeTensor(RngName, SafeTensorDType.I64, [RandomState.Count], bytes);
    }

    private static SafeTensor Rename(SafeTensor t, string name) => new(name, t.DType, t.Shape, t.Data);

    /// <summary>The first model tensor whose name, type or shape differs between the manifest and <paramref name="expected"/>.</summary>
    private static string FirstDifference(JsonObject? entry, List<SafeTensor> expected)
    {
        var listed = entry?["tensors"] as JsonArray ?? [];
        var saved = listed
            .Select(n => n?["name"]?.ToString() ?? "")
            .Zip(listed.Select(n => string.Join('x', (n?["shape"] as JsonArray ?? []).Select(d => d?.ToString()))))
            .Where(p => p.First.StartsWith(ModelPrefix, StringComparison.Ordinal))
            .Select(p => (Name: p.First[ModelPrefix.Length..], Shape: p.Second))
            .ToList();
        for (int i = 0; i < Math.Max(saved.Count, expected.Count); i++)
        {
            if (i >= saved.Count)
            {
                return $"the model has '{expected[i].Name}' that the checkpoint lacks";
            }
            if (i >= expected.Count)
            {
                return $"the checkpoint has '{saved[i].Name}' that the model lacks";
            }
            string shape = string.Join('x', expected[i].Shape);
            if (saved[i].Name != expected[i].Name || saved[i].Shape != shape)
            {
                return $"tensor {i} is '{saved[i].Name}' {saved[i].Shape} in the checkpoint but '{expected[i].Name}' {shape} in the model";
            }
        }
        return "the tensor types differ";
    }

    /// <summary>What is wrong with one checkpoint of a manifest (the message), when another may still be intact.</summary>
    private sealed class EntryException(string message) : Exception(message);

    /// <summary>The epoch as text, for logs.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"checkpoint of {ModelName} after epoch {Epoch}");
}
