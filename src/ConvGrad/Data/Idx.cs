using System.Buffers.Binary;
using System.IO.Compression;

namespace ConvGrad.Data;

/// <summary>
/// One IDX file (the MNIST format): magic <c>00 00 08 ndims</c> (type 08 = unsigned byte), <c>ndims</c> big-endian
/// int32 sizes, then the row-major bytes. Files may be gzip-compressed (detected by the gzip magic, not the name).
/// </summary>
/// <param name="Path">The file it was read from (for error messages).</param>
/// <param name="Dims">The size of each axis.</param>
/// <param name="Data">The elements, row-major.</param>
public sealed record IdxFile(string Path, int[] Dims, byte[] Data)
{
    /// <summary>Reads and validates an IDX file of unsigned bytes.</summary>
    /// <exception cref="InvalidDataException">Bad magic, unsupported element type, truncated or oversized data; the message names the file.</exception>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <param name="path">The IDX file (gzip-compressed when it ends in .gz).</param>
    public static IdxFile Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path}: no such file", path);
        }
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
        {
            try
            {
                using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
                using var ms = new MemoryStream();
                gz.CopyTo(ms);
                bytes = ms.ToArray();
            }
            catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
            {
                throw new InvalidDataException($"{path}: the gzip data is corrupt or truncated ({e.Message})");
            }
        }
        if (bytes.Length < 4 || bytes[0] != 0 || bytes[1] != 0)
        {
            string magic = Convert.ToHexString(bytes.AsSpan(0, Math.Min(4, bytes.Length)));
            throw new InvalidDataException($"{path}: not an IDX file (magic {magic}, expected 0000 then type and rank)");
        }
        if (bytes[2] != 0x08)
        {
            throw new InvalidDataException($"{path}: IDX element type 0x{bytes[2]:X2} is not supported (only 0x08, unsigned byte)");
        }
        int rank = bytes[3];
        if (rank < 1 || bytes.Length < 4 + 4 * rank)
        {
            throw new InvalidDataException($"{path}: IDX header is truncated or has rank {rank}");
        }
        var dims = new int[rank];
        long count = 1;
        for (int a = 0; a < rank; a++)
        {
            dims[a] = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + 4 * a));
            if (dims[a] < 0)
            {
                throw new InvalidDataException($"{path}: IDX size {dims[a]} on axis {a} is negative");
            }
            count *= dims[a];
        }
        long have = bytes.Length - (4 + 4 * rank);
        if (have < count)
        {
            throw new InvalidDataException($"{path}: truncated: the header {Shapes.Format(dims)} needs {count} data bytes but the file has {have}");
        }
        if (have > count)
        {
            throw new InvalidDataException($"{path}: {have - count} unexpected bytes after the {count} data bytes of {Shapes.Format(dims)}");
        }
        return new IdxFile(path, dims, bytes.AsSpan(4 + 4 * rank).ToArray());
    }
}
