using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ConvGrad.Data;

/// <summary>Element types of a safetensors entry that ConvGrad reads and writes.</summary>
public enum SafeTensorDType
{
    /// <summary>IEEE float32, little-endian.</summary>
    F32,
    /// <summary>IEEE float64, little-endian.</summary>
    F64,
    /// <summary>Signed 64-bit integer, little-endian (PyTorch's BatchNorm <c>num_batches_tracked</c>).</summary>
    I64,
}

/// <summary>One named tensor of a safetensors file: element type, shape (empty for a scalar) and raw little-endian bytes.</summary>
public sealed class SafeTensor
{
    /// <summary>Creates an entry, checking that <paramref name="data"/> holds exactly the shape's elements.</summary>
    /// <param name="name">The tensor's name in the file.</param>
    /// <param name="dtype">The element type in the file.</param>
    /// <param name="shape">The size of each axis.</param>
    /// <param name="data">The little-endian element bytes.</param>
    public SafeTensor(string name, SafeTensorDType dtype, int[] shape, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        if (shape.Any(d => d < 0))
        {
            throw new ArgumentException($"tensor '{name}': shape sizes must be >= 0; got {Shapes.Format(shape)}", nameof(shape));
        }
        long expected = Shapes.Product(shape) * ElementSize(dtype);
        if (data.Length != expected)
        {
            throw new ArgumentException($"tensor '{name}' ({dtype}, shape {Shapes.Format(shape)}) needs {expected} bytes; got {data.Length}", nameof(data));
        }
        Name = name;
        DType = dtype;
        Shape = shape;
        Data = data;
    }

    /// <summary>The entry's name (PyTorch <c>state_dict</c> key, e.g. <c>0.weight</c>).</summary>
    public string Name { get; }

    /// <summary>The element type.</summary>
    public SafeTensorDType DType { get; }

    /// <summary>The shape; empty for a scalar.</summary>
    public int[] Shape { get; }

    /// <summary>The raw little-endian bytes, row-major.</summary>
    public byte[] Data { get; }

    /// <summary>The number of elements.</summary>
    public long Length => Shapes.Product(Shape);

    /// <summary>Bytes per element of <paramref name="dtype"/>.</summary>
    /// <param name="dtype">The element type in the file.</param>
    public static int ElementSize(SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F32 => 4,
        _ => 8,
    };

    /// <summary>An entry holding a copy of <paramref name="tensor"/> (F32 for float, F64 for double).</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="name">The tensor's name in the file.</param>
    /// <param name="tensor">The tensor to copy.</param>
    public static SafeTensor FromTensor<T>(string name, Tensor<T> tensor) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var dtype = typeof(T) == typeof(float) ? SafeTensorDType.F32 : SafeTensorDType.F64;
        var bytes = MemoryMarshal.AsBytes(tensor.ReadOnlySpan).ToArray();
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("safetensors writing needs a little-endian machine");
        }
        return new SafeTensor(name, dtype, tensor.Shape.ToArray(), bytes);
    }

    /// <summary>A scalar I64 entry (shape <c>[]</c>).</summary>
    /// <param name="name">The tensor's name in the file.</param>
    /// <param name="value">The value.</param>
    public static SafeTensor Int64Scalar(string name, long value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        return new SafeTensor(name, SafeTensorDType.I64, [], bytes);
    }

    /// <summary>The value of a one-element I64 entry.</summary>
    public long Int64Value()
    {
        if (DType != SafeTensorDType.I64 || Length != 1)
        {
            throw new ArgumentException($"tensor '{Name}' must be a single I64 value; got {DType} {Shapes.Format(Shape)}");
        }
        return BinaryPrimitives.ReadInt64LittleEndian(Data);
    }

    /// <summary>Converts the elements (F32, F64 or I64) to <typeparamref name="T"/> into <paramref name="destination"/>.</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="destination">Receives the elements, converted; its length must be the element count.</param>
    public void CopyTo<T>(Span<T> destination) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (destination.Length != Length)
        {
            throw new ArgumentException($"tensor '{Name}' has {Length} elements; the destination holds {destination.Length}", nameof(destination));
        }
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = DType switch
            {
                SafeTensorDType.F32 => T.CreateChecked(BinaryPrimitives.ReadSingleLittleEndian(Data.AsSpan(4 * i))),
                SafeTensorDType.F64 => T.CreateChecked(BinaryPrimitives.ReadDoubleLittleEndian(Data.AsSpan(8 * i))),
                _ => T.CreateChecked(BinaryPrimitives.ReadInt64LittleEndian(Data.AsSpan(8 * i))),
            };
        }
    }

    /// <summary>The elements as a new tensor of <typeparamref name="T"/> (a scalar becomes shape <c>[1]</c>).</summary>
    /// <typeparam name="T">The element type: <see cref="float"/> or <see cref="double"/>.</typeparam>
    public Tensor<T> ToTensor<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Uninitialized(Shape.Length == 0 ? [1] : Shape);
        CopyTo(t.Span);
        return t;
    }
}

/// <summary>
/// The safetensors file format (Hugging Face; what PyTorch users exchange weights in): an 8-byte little-endian
/// header length <c>n</c>, <c>n</c> bytes of UTF-8 JSON mapping each name to
/// <c>{"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}</c> (offsets relative to the end of the header,
/// optionally a <c>"__metadata__"</c> object of strings), then the raw little-endian tensor bytes.
/// </summary>
public static class SafeTensorsFile
{
    private const string MetadataKey = "__metadata__";

    /// <summary>
    /// Writes <paramref name="tensors"/> (in order, names unique) with optional string metadata, atomically
    /// (<see cref="AtomicFile"/>): a crash mid-write leaves the previous file intact.
    /// </summary>
    /// <param name="path">The .safetensors file.</param>
    /// <param name="tensors">The tensors, written in this order.</param>
    /// <param name="metadata">String metadata for the header, or null.</param>
    public static void Write(string path, IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        // Atomically: a crash mid-write leaves the previous file, never a torn one.
        AtomicFile.Write(path, stream => Encode(stream, list, metadata));
    }

    /// <summary>The bytes of a safetensors file of <paramref name="tensors"/> (checkpoints hash them, then write them through an <see cref="IFileStore"/>).</summary>
    /// <param name="tensors">The tensors, in order, names unique.</param>
    /// <param name="metadata">String metadata for the header, or null.</param>
    internal static byte[] Encode(IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        using var stream = new MemoryStream();
        Encode(stream, tensors.ToList(), metadata);
        return stream.ToArray();
    }

    private static void Encode(Stream stream, List<SafeTensor> list, IReadOnlyDictionary<string, string>? metadata)
    {
        var header = new JsonObject();
        if (metadata is not null && metadata.Count > 0)
        {
            var m = new JsonObject();
            foreach (var (k, v) in metadata)
            {
                m[k] = v;
            }
            header[MetadataKey] = m;
        }
        long offset = 0;
        foreach (var t in list)
        {
            if (t.Name == MetadataKey || header.ContainsKey(t.Name))
            {
                throw new ArgumentException($"tensor name '{t.Name}' is reserved or used twice", "tensors");
            }
            header[t.Name] = new JsonObject
            {
                ["dtype"] = t.DType.ToString(),
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + t.Data.Length),
            };
            offset += t.Data.Length;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8; // the data starts 8-byte aligned; the header is padded with spaces
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
        stream.Write(len);
        stream.Write(json);
        for (int i = json.Length; i < padded; i++)
        {
            stream.WriteByte((byte)' ');
        }
        foreach (var t in list)
        {
            stream.Write(t.Data);
        }
    }

    /// <summary>Reads every tensor of a safetensors file, in file order.</summary>
    /// <exception cref="InvalidDataException">The file is not valid safetensors; the message names the file and what is wrong.</exception>
    /// <param name="path">The .safetensors file.</param>
    public static IReadOnlyList<SafeTensor> Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            throw new FileNotFoundException($"{path}: no such file", path);
        }
        return Decode(bytes, path);
    }

    /// <summary>The tensors of a safetensors file's <paramref name="bytes"/>, in file order.</summary>
    /// <param name="bytes">The file's contents.</param>
    /// <param name="path">The file's name, for messages.</param>
    /// <exception cref="InvalidDataException">The bytes are not valid safetensors; the message names the file and what is wrong.</exception>
    internal static IReadOnlyList<SafeTensor> Decode(byte[] bytes, string path)
    {
        InvalidDataException Bad(string what) => new($"{path}: not a valid safetensors file: {what}");
        if (bytes.Length < 8)
        {
            throw Bad($"it has {bytes.Length} bytes, fewer than the 8-byte header length");
        }
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (n < 2 || n > (ulong)(bytes.Length - 8))
        {
            throw Bad($"the header length {n} does not fit the file of {bytes.Length} bytes");
        }
        int dataStart = 8 + (int)n;
        JsonObject header;
        try
        {
            header = JsonNode.Parse(bytes.AsSpan(8, (int)n).ToArray()) as JsonObject ?? throw Bad("the header is not a JSON object");
        }
        catch (JsonException e)
        {
            throw Bad($"the header is not valid JSON ({e.Message})");
        }
        long dataLength = bytes.Length - dataStart;
        var result = new List<(long Begin, SafeTensor Tensor)>();
        foreach (var (name, node) in header)
        {
            if (name == MetadataKey)
            {
                continue;
            }
            if (node is not JsonObject entry)
            {
                throw Bad($"entry '{name}' is not an object");
            }
            try
            {
                string dt = entry["dtype"]?.GetValue<string>() ?? throw Bad($"entry '{name}' has no dtype");
                if (!Enum.TryParse<SafeTensorDType>(dt, ignoreCase: false, out var dtype) || !Enum.IsDefined(dtype))
                {
                    throw Bad($"entry '{name}' has dtype '{dt}'; supported: F32, F64, I64");
                }
                var shape = (entry["shape"] as JsonArray ?? throw Bad($"entry '{name}' has no shape")).Select(d => d!.GetValue<int>()).ToArray();
                var offs = entry["data_offsets"] as JsonArray ?? throw Bad($"entry '{name}' has no data_offsets");
                if (offs.Count != 2)
                {
                    throw Bad($"entry '{name}' data_offsets must have 2 numbers; got {offs.Count}");
                }
                long begin = offs[0]!.GetValue<long>(), end = offs[1]!.GetValue<long>();
                if (shape.Any(d => d < 0))
                {
                    throw Bad($"entry '{name}' has a negative size in shape {Shapes.Format(shape)}");
                }
                if (begin < 0 || end < begin || end > dataLength)
                {
                    throw Bad($"entry '{name}' data_offsets [{begin}, {end}] lie outside the {dataLength} data bytes");
                }
                long expected = Shapes.Product(shape) * SafeTensor.ElementSize(dtype);
                if (end - begin != expected)
                {
                    throw Bad($"entry '{name}' ({dt}, shape {Shapes.Format(shape)}) needs {expected} bytes but data_offsets [{begin}, {end}] give {end - begin}");
                }
                result.Add((begin, new SafeTensor(name, dtype, shape, bytes.AsSpan(dataStart + (int)begin, (int)expected).ToArray())));
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
            {
                throw Bad($"entry '{name}' is malformed ({e.Message})");
            }
        }
        var sorted = result.OrderBy(r => r.Begin).ToList();
        for (int i = 1; i < sorted.Count; i++)
        {
            var prev = sorted[i - 1];
            if (prev.Begin + prev.Tensor.Data.Length > sorted[i].Begin)
            {
                throw Bad($"entries '{prev.Tensor.Name}' and '{sorted[i].Tensor.Name}' overlap");
            }
        }
        return sorted.Select(r => r.Tensor).ToList();
    }

    /// <summary>Reads a file into a dictionary by name.</summary>
    /// <param name="path">The .safetensors file.</param>
    public static IReadOnlyDictionary<string, SafeTensor> ReadDictionary(string path) =>
        Read(path).ToDictionary(t => t.Name, StringComparer.Ordinal);

    /// <summary>The header's <c>__metadata__</c> strings (empty when it has none).</summary>
    /// <param name="path">The .safetensors file.</param>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string path)
    {
        using var s = File.OpenRead(path);
        Span<byte> len = stackalloc byte[8];
        s.ReadExactly(len);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(len);
        if (n > (ulong)s.Length - 8)
        {
            throw new InvalidDataException($"{path}: not a valid safetensors file: the header length {n} does not fit the file");
        }
        var buf = new byte[n];
        s.ReadExactly(buf);
        var m = (JsonNode.Parse(buf) as JsonObject)?[MetadataKey] as JsonObject;
        return m is null
            ? new Dictionary<string, string>()
            : m.ToDictionary(kv => kv.Key, kv => kv.Value?.ToString() ?? "", StringComparer.Ordinal);
    }

}
