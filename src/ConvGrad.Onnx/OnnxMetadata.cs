using System.Globalization;
using System.Text.Json;
using Onnx;

namespace ConvGrad.Onnx;

/// <summary>
/// What a classifier needs besides its weights, carried in an ONNX file's <c>metadata_props</c>: the class names and the
/// per-channel normalisation <c>x' = (x − mean[c]) / std[c]</c> of pixel values scaled to [0, 1], and whether that
/// normalisation is also a part of the graph (then the graph's input takes the [0, 1] pixels).
/// </summary>
/// <param name="ClassNames">The name of each output class, in logit order; null when unknown.</param>
/// <param name="Mean">The per-channel mean subtracted from [0, 1] pixels; null when unknown.</param>
/// <param name="Std">The per-channel standard deviation the centred pixels are divided by; null when unknown.</param>
/// <param name="NormalizationInGraph">Whether the graph itself normalises its input (so a caller feeds [0, 1] pixels).</param>
public sealed record OnnxMetadata(IReadOnlyList<string>? ClassNames, IReadOnlyList<double>? Mean, IReadOnlyList<double>? Std, bool NormalizationInGraph = false)
{
    /// <summary>The <c>metadata_props</c> key of the class names (a JSON array of strings).</summary>
    public const string ClassNamesKey = "class_names";

    /// <summary>The <c>metadata_props</c> key of the per-channel mean (a JSON array of numbers).</summary>
    public const string MeanKey = "normalization_mean";

    /// <summary>The <c>metadata_props</c> key of the per-channel standard deviation (a JSON array of numbers).</summary>
    public const string StdKey = "normalization_std";

    /// <summary>The <c>metadata_props</c> key that says whether the graph normalises its input (<c>true</c> or <c>false</c>).</summary>
    public const string InGraphKey = "normalization_in_graph";

    /// <summary>No class names and no normalisation.</summary>
    public static OnnxMetadata None { get; } = new(null, null, null);

    /// <summary>Whether both the mean and the standard deviation are known.</summary>
    public bool HasNormalization => Mean is not null && Std is not null;

    /// <summary>Checks that mean and std come together, have <paramref name="channels"/> entries and std is positive.</summary>
    /// <param name="channels">The model's input channels.</param>
    /// <exception cref="ArgumentException">They do not.</exception>
    public void Validate(int channels)
    {
        if ((Mean is null) != (Std is null))
        {
            throw new ArgumentException("normalisation needs both a mean and a standard deviation", nameof(Mean));
        }
        if (HasNormalization && (Mean!.Count != channels || Std!.Count != channels || Std.Any(s => !(s > 0)) || Mean.Any(m => !double.IsFinite(m))))
        {
            throw new ArgumentException($"normalisation needs one finite mean and one positive std per input channel ({channels}); got mean [{Join(Mean)}], std [{Join(Std!)}]", nameof(Mean));
        }
        if (NormalizationInGraph && !HasNormalization)
        {
            throw new ArgumentException("the normalisation cannot be in the graph without a mean and std", nameof(NormalizationInGraph));
        }
    }

    /// <summary>Writes the known entries into <paramref name="props"/>.</summary>
    internal void WriteTo(ICollection<StringStringEntryProto> props)
    {
        if (ClassNames is not null)
        {
            props.Add(new StringStringEntryProto { Key = ClassNamesKey, Value = JsonSerializer.Serialize(ClassNames) });
        }
        if (HasNormalization)
        {
            props.Add(new StringStringEntryProto { Key = MeanKey, Value = JsonSerializer.Serialize(Mean) });
            props.Add(new StringStringEntryProto { Key = StdKey, Value = JsonSerializer.Serialize(Std) });
        }
        props.Add(new StringStringEntryProto { Key = InGraphKey, Value = NormalizationInGraph ? "true" : "false" });
    }

    /// <summary>Reads the entries this library writes from <paramref name="props"/> (unknown keys are ignored).</summary>
    /// <exception cref="InvalidDataException">A known key holds a value of the wrong form.</exception>
    internal static OnnxMetadata ReadFrom(IEnumerable<StringStringEntryProto> props)
    {
        var map = props.GroupBy(p => p.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal);
        T? Json<T>(string key) where T : class
        {
            if (!map.TryGetValue(key, out var text))
            {
                return null;
            }
            try
            {
                return JsonSerializer.Deserialize<T>(text) ?? throw new JsonException("null");
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"metadata '{key}' is not the expected JSON array: {e.Message}", e);
            }
        }
        bool inGraph = map.TryGetValue(InGraphKey, out var flag) && flag.Trim().Equals("true", StringComparison.OrdinalIgnoreCase);
        return new OnnxMetadata(Json<string[]>(ClassNamesKey), Json<double[]>(MeanKey), Json<double[]>(StdKey), inGraph);
    }

    private static string Join(IEnumerable<double>? v) =>
        v is null ? "" : string.Join(", ", v.Select(d => d.ToString("R", CultureInfo.InvariantCulture)));
}
