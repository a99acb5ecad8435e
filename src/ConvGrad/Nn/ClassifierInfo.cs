using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ConvGrad.Data;

namespace ConvGrad.Nn;

/// <summary>
/// What a saved image classifier needs besides its weights to classify an image as it was trained: the architecture,
/// the input shape, the class names and the input normalisation. Kept in the safetensors header's
/// <c>__metadata__</c> under the keys below (lists as JSON arrays, the keys ONNX export uses for the same things).
/// </summary>
/// <param name="Architecture">The model: <c>lenet</c> or <c>resnet</c> (<see cref="ImageClassifiers.Names"/>).</param>
/// <param name="InputShape">One image's shape, C×H×W.</param>
/// <param name="Classes">The class names, label 0 first.</param>
/// <param name="Normalization">The per-channel input normalisation.</param>
public sealed record ClassifierInfo(string Architecture, ImageShape InputShape, IReadOnlyList<string> Classes, Normalization Normalization)
{
    /// <summary>Metadata key of the architecture.</summary>
    public const string ArchitectureKey = "architecture";

    /// <summary>Metadata key of the input shape (a JSON array <c>[C, H, W]</c>).</summary>
    public const string InputShapeKey = "input_shape";

    /// <summary>Metadata key of the class names (a JSON array of strings).</summary>
    public const string ClassNamesKey = "class_names";

    /// <summary>Metadata key of the per-channel mean (a JSON array).</summary>
    public const string MeanKey = "normalization_mean";

    /// <summary>Metadata key of the per-channel standard deviation (a JSON array).</summary>
    public const string StdKey = "normalization_std";

    /// <summary>
    /// What a file without these keys holds — written before models carried them: the MNIST digits, <c>1×28×28</c>,
    /// classes <c>0</c>–<c>9</c>, MNIST's normalisation.
    /// </summary>
    /// <param name="architecture">The architecture its tensors show.</param>
    public static ClassifierInfo Digits(string architecture) =>
        new(architecture, ImageClassifiers.Digits, [.. Enumerable.Range(0, 10).Select(d => d.ToString(CultureInfo.InvariantCulture))], Normalization.Mnist);

    /// <summary>The metadata entries.</summary>
    public Dictionary<string, string> ToMetadata() => new(StringComparer.Ordinal)
    {
        [ArchitectureKey] = Architecture,
        [InputShapeKey] = new JsonArray(InputShape.ToArray().Select(d => (JsonNode)d).ToArray()).ToJsonString(),
        [ClassNamesKey] = new JsonArray(Classes.Select(c => (JsonNode)c).ToArray()).ToJsonString(),
        [MeanKey] = new JsonArray(Normalization.Mean.Select(m => (JsonNode)m).ToArray()).ToJsonString(),
        [StdKey] = new JsonArray(Normalization.Std.Select(s => (JsonNode)s).ToArray()).ToJsonString(),
    };

    /// <summary>The info in <paramref name="metadata"/>, or null when it has no architecture key (an older file).</summary>
    /// <param name="metadata">A safetensors file's metadata.</param>
    /// <param name="path">The file, for messages.</param>
    /// <exception cref="InvalidDataException">A key is missing or does not read; the message names the file and the key.</exception>
    public static ClassifierInfo? FromMetadata(IReadOnlyDictionary<string, string> metadata, string path)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        if (!metadata.TryGetValue(ArchitectureKey, out var architecture))
        {
            return null;
        }
        JsonArray Array(string key)
        {
            try
            {
                return metadata.TryGetValue(key, out var text) && JsonNode.Parse(text) is JsonArray a
                    ? a
                    : throw new InvalidDataException($"{path}: its metadata has '{ArchitectureKey}' but no JSON array '{key}'");
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}: metadata '{key}' is not a JSON array ({e.Message})", e);
            }
        }
        try
        {
            var shape = Array(InputShapeKey).Select(n => n!.GetValue<int>()).ToArray();
            if (shape.Length != 3 || shape.Any(d => d < 1))
            {
                throw new InvalidDataException($"{path}: metadata '{InputShapeKey}' must be [C, H, W] of positive sizes; got [{string.Join(", ", shape)}]");
            }
            var classes = Array(ClassNamesKey).Select(n => n!.GetValue<string>()).ToArray();
            var normalization = new Normalization(Array(MeanKey).Select(n => n!.GetValue<double>()).ToArray(), Array(StdKey).Select(n => n!.GetValue<double>()).ToArray());
            if (normalization.Channels != shape[0])
            {
                throw new InvalidDataException($"{path}: the metadata's normalisation has {normalization.Channels} channels but its input shape {shape[0]}");
            }
            return new ClassifierInfo(architecture, new ImageShape(shape[0], shape[1], shape[2]), classes, normalization);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException or NullReferenceException)
        {
            throw new InvalidDataException($"{path}: its classifier metadata does not read ({e.Message})", e);
        }
    }
}
