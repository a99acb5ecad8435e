using System.Text.Json;

namespace ConvGrad.Verification;

/// <summary>
/// One reference case in the golden format (see tests/data/golden/README.md): the inputs of a convolution or
/// transposed convolution and the float64 results y, dx, dw, db of L = Σ y·dy.
/// </summary>
internal sealed class GoldenCase
{
    public required string Id { get; init; }
    public required bool Transposed { get; init; }
    public required ConvGeometry Geometry { get; init; }
    public required int[] InputShape { get; init; }
    public required int[] KernelShape { get; init; }
    public required int[] OutputShape { get; init; }
    public required double[] X { get; init; }
    public required double[] W { get; init; }
    public required double[]? B { get; init; }
    public required double[] Dy { get; init; }
    public required double[] Y { get; init; }
    public required double[] Dx { get; init; }
    public required double[] Dw { get; init; }
    public required double[]? Db { get; init; }
    public required bool IntegerValued { get; init; }

    /// <summary>Reads and checks one case file; any problem is a <see cref="FormatException"/> naming the file and the field.</summary>
    public static GoldenCase Load(string path)
    {
        string name = Path.GetFileName(path);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new FormatException($"{name}: not valid JSON ({e.Message})");
        }
        catch (IOException e)
        {
            throw new FormatException($"{name}: cannot be read ({e.Message})");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new FormatException($"{name}: cannot be read ({e.Message})");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException($"{name}: the top level must be a JSON object");
            }
            try
            {
                string op = Str(root, "op");
                bool transposed = op switch
                {
                    "conv" => false,
                    "conv_transpose" => true,
                    _ => throw new FormatException($"field 'op' must be \"conv\" or \"conv_transpose\"; got \"{op}\""),
                };
                int dims = Int(root, "dims");
                bool hasBias = root.TryGetProperty("has_bias", out var hb) && hb.ValueKind == JsonValueKind.True;
                int[] outputPadding = transposed && root.TryGetProperty("output_padding", out var opd) && opd.ValueKind == JsonValueKind.Array
                    ? Ints(root, "output_padding")
                    : new int[dims];
                ConvGeometry geometry;
                try
                {
                    geometry = new ConvGeometry(Ints(root, "stride"), Ints(root, "padding_before"), Ints(root, "padding_after"),
                        Ints(root, "dilation"), Int(root, "groups"), outputPadding);
                }
                catch (ArgumentException e)
                {
                    throw new FormatException($"invalid geometry: {e.Message}");
                }
                if (geometry.Dims != dims)
                {
                    throw new FormatException($"field 'dims' is {dims} but stride has {geometry.Dims} entries");
                }
                return new GoldenCase
                {
                    Id = root.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString()! : Path.GetFileNameWithoutExtension(path),
                    Transposed = transposed,
                    Geometry = geometry,
                    InputShape = Ints(root, "input_shape"),
                    KernelShape = Ints(root, "kernel_shape"),
                    OutputShape = Ints(root, "output_shape"),
                    X = Doubles(root, "x"),
                    W = Doubles(root, "w"),
                    B = hasBias ? Doubles(root, "b") : null,
                    Dy = Doubles(root, "dy"),
                    Y = Doubles(root, "y"),
                    Dx = Doubles(root, "dx"),
                    Dw = Doubles(root, "dw"),
                    Db = hasBias ? Doubles(root, "db") : null,
                    IntegerValued = root.TryGetProperty("value_kind", out var vk) && vk.ValueKind == JsonValueKind.String && vk.GetString() == "int",
                };
            }
            catch (FormatException e)
            {
                throw new FormatException($"{name}: {e.Message}");
            }
        }
    }

    private static JsonElement Field(JsonElement root, string field) =>
        root.TryGetProperty(field, out var e) ? e : throw new FormatException($"missing field '{field}'");

    private static string Str(JsonElement root, string field)
    {
        var e = Field(root, field);
        return e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new FormatException($"field '{field}' must be a string");
    }

    private static int Int(JsonElement root, string field)
    {
        var e = Field(root, field);
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v) ? v : throw new FormatException($"field '{field}' must be an integer");
    }

    private static int[] Ints(JsonElement root, string field)
    {
        var e = Field(root, field);
        if (e.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException($"field '{field}' must be an array of integers");
        }
        var result = new int[e.GetArrayLength()];
        int i = 0;
        foreach (var v in e.EnumerateArray())
        {
            result[i++] = v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int x) ? x : throw new FormatException($"field '{field}' must be an array of integers");
        }
        return result;
    }

    private static double[] Doubles(JsonElement root, string field)
    {
        var e = Field(root, field);
        if (e.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException($"field '{field}' must be an array of numbers");
        }
        var result = new double[e.GetArrayLength()];
        int i = 0;
        foreach (var v in e.EnumerateArray())
        {
            result[i++] = v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw new FormatException($"field '{field}' must be an array of numbers");
        }
        return result;
    }
}
