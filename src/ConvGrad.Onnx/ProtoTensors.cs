using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace ConvGrad.Onnx;

/// <summary>A constant of an ONNX graph: its shape and values as float or int64 (the two element types conv nets use).</summary>
/// <param name="Shape">The dimensions.</param>
/// <param name="Floats">The values when the element type is a float type, else null.</param>
/// <param name="Longs">The values when the element type is an integer type, else null.</param>
internal sealed record ConstantTensor(long[] Shape, float[]? Floats, long[]? Longs)
{
    public long Count => Floats?.Length ?? Longs!.Length;

    public static ConstantTensor Of(float[] values, params long[] shape) => new(shape, values, null);

    public static ConstantTensor Of(long[] values, params long[] shape) => new(shape, null, values);

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>Conversions between <see cref="TensorProto"/> and arrays, through Google.Protobuf's generated types.</summary>
internal static class ProtoTensors
{
    /// <summary>A float tensor (little-endian <c>raw_data</c>, as every ONNX writer uses for weights).</summary>
    public static TensorProto Float(string name, ReadOnlySpan<float> values, ReadOnlySpan<int> shape)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        foreach (int d in shape)
        {
            t.Dims.Add(d);
        }
        var bytes = new byte[values.Length * sizeof(float)];
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(values).CopyTo(bytes);
        }
        else
        {
            for (int i = 0; i < values.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
            }
        }
        t.RawData = ByteString.CopyFrom(bytes);
        return t;
    }

    /// <summary>An int64 tensor (shapes, axes).</summary>
    public static TensorProto Int64(string name, ReadOnlySpan<long> values, params ReadOnlySpan<int> shape)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        foreach (int d in shape)
        {
            t.Dims.Add(d);
        }
        foreach (long v in values)
        {
            t.Int64Data.Add(v);
        }
        return t;
    }

    /// <summary>
    /// The values of <paramref name="t"/> (float, float16, double, int32, int64 and the smaller integers; raw or typed
    /// fields); external data is refused, as are other element types.
    /// </summary>
    /// <exception cref="InvalidDataException">The tensor cannot be read.</exception>
    public static ConstantTensor Read(TensorProto t, string what)
    {
        if (t.DataLocation == TensorProto.Types.DataLocation.External || t.ExternalData.Count > 0)
        {
            throw new InvalidDataException($"{what}: tensor '{t.Name}' keeps its data in an external file, which is not supported (save the model with the weights inside)");
        }
        long[] shape = [.. t.Dims];
        long count = 1;
        foreach (long d in shape)
        {
            if (d < 0)
            {
                throw new InvalidDataException($"{what}: tensor '{t.Name}' has a negative dimension {d}");
            }
            count *= d;
        }
        if (count > int.MaxValue / 8)
        {
            throw new InvalidDataException($"{what}: tensor '{t.Name}' has {count} elements, too many");
        }
        int n = (int)count;
        var raw = t.RawData.Span;
        var type = (TensorProto.Types.DataType)t.DataType;
        switch (type)
        {
            case TensorProto.Types.DataType.Float:
                return ConstantTensor.Of(Raw(raw, n, 4, what, t, b => BinaryPrimitives.ReadSingleLittleEndian(b), [.. t.FloatData]), shape);
            case TensorProto.Types.DataType.Double:
                return ConstantTensor.Of(Raw(raw, n, 8, what, t, b => (float)BinaryPrimitives.ReadDoubleLittleEndian(b), [.. t.DoubleData.Select(d => (float)d)]), shape);
            case TensorProto.Types.DataType.Float16:
                return ConstantTensor.Of(Raw(raw, n, 2, what, t, b => (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(b)),
                    [.. t.Int32Data.Select(v => (float)BitConverter.UInt16BitsToHalf((ushort)v))]), shape);
            case TensorProto.Types.DataType.Int64:
                return ConstantTensor.Of(Raw(raw, n, 8, what, t, b => BinaryPrimitives.ReadInt64LittleEndian(b), [.. t.Int64Data]), shape);
            case TensorProto.Types.DataType.Int32:
                return ConstantTensor.Of(Raw(raw, n, 4, what, t, b => (long)BinaryPrimitives.ReadInt32LittleEndian(b), [.. t.Int32Data.Select(v => (long)v)]), shape);
            case TensorProto.Types.DataType.Int8:
            case TensorProto.Types.DataType.Uint8:
            case TensorProto.Types.DataType.Bool:
                return ConstantTensor.Of(Raw(raw, n, 1, what, t, b => type == TensorProto.Types.DataType.Int8 ? (sbyte)b[0] : (long)b[0], [.. t.Int32Data.Select(v => (long)v)]), shape);
            default:
                throw new InvalidDataException($"{what}: tensor '{t.Name}' has element type {type}, which is not supported");
        }
    }

    private delegate TV ReadOne<TV>(ReadOnlySpan<byte> bytes);

    private static TV[] Raw<TV>(ReadOnlySpan<byte> raw, int n, int size, string what, TensorProto t, ReadOne<TV> read, TV[] typed)
    {
        if (raw.Length > 0)
        {
            if (raw.Length != (long)n * size)
            {
                throw new InvalidDataException($"{what}: tensor '{t.Name}' holds {raw.Length} bytes but its shape needs {(long)n * size}");
            }
            var v = new TV[n];
            for (int i = 0; i < n; i++)
            {
                v[i] = read(raw.Slice(i * size, size));
            }
            return v;
        }
        if (typed.Length != n)
        {
            throw new InvalidDataException($"{what}: tensor '{t.Name}' holds {typed.Length} values but its shape needs {n}");
        }
        return typed;
    }
}
