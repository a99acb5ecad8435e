using ConvGrad.Data;

namespace ConvGrad.Nn;

/// <summary>A saved image classifier: its module and its <see cref="ClassifierInfo"/>.</summary>
/// <param name="Module">The network, weights loaded.</param>
/// <param name="Info">Architecture, input shape, class names and normalisation.</param>
public sealed record Classifier(Module<float> Module, ClassifierInfo Info)
{
    /// <summary>
    /// Writes <paramref name="module"/>'s weights (PyTorch's names and layouts) with <paramref name="info"/> and
    /// <paramref name="extra"/> in the safetensors metadata, atomically.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="module">The trained model.</param>
    /// <param name="info">What the model needs to classify.</param>
    /// <param name="extra">Further metadata (seed, accuracy, ...), or null.</param>
    public static void Save(string path, Module<float> module, ClassifierInfo info, IReadOnlyDictionary<string, string>? extra = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(info);
        var metadata = info.ToMetadata();
        foreach (var (k, v) in extra ?? new Dictionary<string, string>())
        {
            metadata.TryAdd(k, v);
        }
        SafeTensorsFile.Write(path, module.State(), metadata);
    }

    /// <summary>
    /// Loads a classifier saved by <see cref="Save"/> (or by PyTorch with the same names). The architecture its
    /// tensors show must be the one its metadata names; a file without metadata is taken as a digit model
    /// (<see cref="ClassifierInfo.Digits"/>).
    /// </summary>
    /// <param name="path">The safetensors file.</param>
    /// <param name="options">Engine and threads; null means <see cref="ConvOptions.Default"/>.</param>
    /// <exception cref="InvalidDataException">
    /// The tensors are of no known architecture, of another one than the metadata names, or do not fit its shapes;
    /// one line naming the file, what it holds and what was expected.
    /// </exception>
    public static Classifier Load(string path, ConvOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var state = SafeTensorsFile.ReadDictionary(path);
        var metadata = SafeTensorsFile.ReadMetadata(path);
        string? found = ImageClassifiers.ArchitectureOf(state);
        var info = ClassifierInfo.FromMetadata(metadata, path);
        string Holds() => found is null
            ? $"tensors {string.Join(", ", state.Keys.Take(4))}{(state.Count > 4 ? ", ..." : "")} of no known architecture"
            : $"a {found} ({state.Count} tensors)";
        if (found is null || info is not null && info.Architecture != found)
        {
            string expected = info is null ? $"a {string.Join(" or ", ImageClassifiers.Names)} saved by convgrad train" : $"the {info.Architecture} its metadata names";
            throw new InvalidDataException($"{path}: the file holds {Holds()}; expected {expected}");
        }
        info ??= ClassifierInfo.Digits(found);
        try
        {
            var module = ImageClassifiers.FromState(state, info.InputShape, options);
            int outputs = OutputsOf(state, found);
            if (outputs != info.Classes.Count)
            {
                throw new ArgumentException($"its head has {outputs} outputs but the metadata names {info.Classes.Count} classes");
            }
            return new Classifier(module, info);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{path}: the file holds {Holds()} that does not fit {info.Architecture} for {info.InputShape} images and {info.Classes.Count} classes: {e.Message}", e);
        }
    }

    private static int OutputsOf(IReadOnlyDictionary<string, SafeTensor> state, string architecture) =>
        state[architecture == "resnet" ? "fc.weight" : "10.weight"].Shape[0];
}
