using System.Buffers.Binary;
using System.IO.Compression;
using ConvGrad.Data;
using SkiaSharp;

namespace ConvGrad.Tests.Data;

/// <summary>Image files for tests: the bundled digits as PNG folders (gray, RGB, JPEG), and bad files of each kind.</summary>
internal static class ImageFolderFixture
{
    public static readonly string[] Names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

    /// <summary>
    /// DIR/train/&lt;name&gt;/ and DIR/test/&lt;name&gt;/ (or DIR/&lt;name&gt;/ when <paramref name="bare"/>): digits
    /// <c>[first, first + perClass·10)</c> with their class's name; every other file an RGB PNG (the digit drawn in a
    /// colour), the rest gray PNGs; digits at or after <paramref name="testFrom"/> go to test/.
    /// </summary>
    public static void WriteDigits(string dir, int trainCount, int testCount, bool bare = false)
    {
        for (int i = 0; i < trainCount + testCount; i++)
        {
            int k = i < trainCount ? i : 8000 + i - trainCount;
            string part = bare ? "" : i < trainCount ? "train" : "test";
            string folder = Path.Combine(dir, part, Names[TestDigits.All.Label(k)]);
            Directory.CreateDirectory(folder);
            WritePng(Path.Combine(folder, $"d{k:D5}.png"), TestDigits.All.Pixels(k), 28, 28, rgb: i % 2 == 1);
        }
    }

    /// <summary>A gray or RGB (light-on-dark, the stroke tinted orange) PNG of 8-bit gray pixels.</summary>
    public static void WritePng(string path, ReadOnlySpan<byte> gray, int width, int height, bool rgb, SKEncodedImageFormat format = SKEncodedImageFormat.Png)
    {
        using var bmp = new SKBitmap(new SKImageInfo(width, height, rgb ? SKColorType.Rgba8888 : SKColorType.Gray8, SKAlphaType.Opaque));
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
        {
            byte v = gray[y * width + x];
            bmp.SetPixel(x, y, rgb ? new SKColor(v, (byte)(v * 3 / 4), (byte)(v / 4)) : new SKColor(v, v, v));
        }
        using var data = bmp.Encode(format, 95);
        File.WriteAllBytes(path, data.ToArray());
    }

    /// <summary>A real 16-bit gray PNG (IHDR bit depth 16, one zlib-compressed IDAT) of <paramref name="w"/>×<paramref name="h"/>.</summary>
    public static void Write16BitPng(string path, int w, int h)
    {
        var raw = new MemoryStream();
        for (int y = 0; y < h; y++)
        {
            raw.WriteByte(0); // filter: none
            for (int x = 0; x < w; x++)
            {
                raw.WriteByte((byte)(x * 30));
                raw.WriteByte(0);
            }
        }
        var idat = new MemoryStream();
        using (var z = new ZLibStream(idat, CompressionLevel.Optimal, leaveOpen: true))
        {
            raw.WriteTo(z);
        }
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, w);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), h);
        ihdr[8] = 16; // bit depth
        ihdr[9] = 0;  // gray
        using var f = File.Create(path);
        f.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        Chunk(f, "IHDR", ihdr);
        Chunk(f, "IDAT", idat.ToArray());
        Chunk(f, "IEND", []);
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        Span<byte> n = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(n, data.Length);
        s.Write(n);
        var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(n, Crc32(typed));
        s.Write(n);
    }

    private static uint Crc32(byte[] bytes)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            c ^= b;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            }
        }
        return ~c;
    }

    /// <summary>The first half of a valid PNG (a truncated download).</summary>
    public static void Truncate(string path) => File.WriteAllBytes(path, File.ReadAllBytes(path)[..(int)(new FileInfo(path).Length / 2)]);

    public static ImageShape Gray28 => new(1, 28, 28);
}
