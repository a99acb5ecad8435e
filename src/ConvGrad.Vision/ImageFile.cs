using System.Buffers.Binary;
using ConvGrad.Data;
using SkiaSharp;

namespace ConvGrad.Vision;

/// <summary>
/// One PNG or JPEG file as a model input: decoded by SkiaSharp, composited on black where transparent, converted to
/// gray (ITU-R 601 luma, as PIL's <c>convert("L")</c>) or RGB, and resized (bilinear with mipmaps, ignoring the aspect
/// ratio, as torchvision's <c>Resize((h, w))</c>) to the shape asked for. Errors are <see cref="InvalidDataException"/>s
/// whose one-line message starts with the file's path.
/// </summary>
public static class ImageFile
{
    /// <summary>The file extensions read (case-insensitive).</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".png", ".jpg", ".jpeg"];

    /// <summary>Whether <paramref name="path"/> has a PNG or JPEG extension.</summary>
    /// <param name="path">A file name.</param>
    public static bool HasImageExtension(string path) => Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>The size of the image in <paramref name="path"/> and whether it is stored as gray, from its header.</summary>
    /// <param name="path">The file.</param>
    /// <exception cref="InvalidDataException">Not a PNG or JPEG image, or a 16-bit PNG.</exception>
    public static ImageInfo Probe(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var codec = Open(path);
        return new ImageInfo(codec.Info.Width, codec.Info.Height, codec.Info.ColorType == SKColorType.Gray8);
    }

    /// <summary>The image in <paramref name="path"/> as <paramref name="shape"/>: 8-bit pixels C×H×W.</summary>
    /// <param name="path">The file.</param>
    /// <param name="shape">The channels (1 or 3) and size wanted.</param>
    /// <exception cref="InvalidDataException">Not a PNG or JPEG image, a 16-bit PNG, or a corrupt or truncated file.</exception>
    public static byte[] Read(string path, ImageShape shape)
    {
        var pixels = new byte[shape.Length];
        Read(path, shape, pixels);
        return pixels;
    }

    /// <summary>Decodes <paramref name="path"/> as <paramref name="shape"/> into <paramref name="destination"/> (C×H×W).</summary>
    /// <param name="path">The file.</param>
    /// <param name="shape">The channels (1 or 3) and size wanted.</param>
    /// <param name="destination">At least <c>shape.Length</c> bytes.</param>
    /// <exception cref="InvalidDataException">Not a PNG or JPEG image, a 16-bit PNG, or a corrupt or truncated file.</exception>
    public static void Read(string path, ImageShape shape, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (shape.Channels is not (1 or 3) || shape.Height < 1 || shape.Width < 1)
        {
            throw new ArgumentException($"images are read as 1 or 3 channels of at least 1x1; got {shape}", nameof(shape));
        }
        if (destination.Length < shape.Length)
        {
            throw new ArgumentException($"need {shape.Length} bytes for {shape}; got {destination.Length}", nameof(destination));
        }
        using var codec = Open(path);
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var decoded = new SKBitmap(info);
        var result = codec.GetPixels(info, decoded.GetPixels());
        if (result != SKCodecResult.Success)
        {
            throw new InvalidDataException($"{path}: corrupt or truncated image ({Describe(result)})");
        }
        using var sized = info.Width == shape.Width && info.Height == shape.Height
            ? null
            : decoded.Resize(new SKImageInfo(shape.Width, shape.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul),
                new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear))
              ?? throw new InvalidDataException($"{path}: cannot be resized to {shape.Width}x{shape.Height}");
        var rgba = (sized ?? decoded).GetPixelSpan();
        int plane = shape.Height * shape.Width;
        for (int p = 0; p < plane; p++)
        {
            int a = rgba[4 * p + 3];
            // Composited on black: a transparent pixel is background 0.
            int r = rgba[4 * p] * a / 255, g = rgba[4 * p + 1] * a / 255, b = rgba[4 * p + 2] * a / 255;
            if (shape.Channels == 1)
            {
                destination[p] = (byte)Math.Clamp((int)Math.Round(0.299 * r + 0.587 * g + 0.114 * b), 0, 255);
            }
            else
            {
                destination[p] = (byte)r;
                destination[plane + p] = (byte)g;
                destination[2 * plane + p] = (byte)b;
            }
        }
    }

    private static SKCodec Open(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path}: no such file", path);
        }
        if (!HasImageExtension(path))
        {
            throw new InvalidDataException($"{path}: not a PNG or JPEG file (by its extension)");
        }
        using (var f = File.OpenRead(path))
        {
            Span<byte> header = stackalloc byte[26];
            int n = f.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
            // PNG: the 8-byte signature, then IHDR (length, type, width, height, bit depth at byte 24).
            if (n >= 25 && BinaryPrimitives.ReadUInt64BigEndian(header) == 0x89504E470D0A1A0A && header[24] == 16)
            {
                throw new InvalidDataException($"{path}: 16-bit PNG; save it with 8 bits per channel");
            }
        }
        return SKCodec.Create(path, out var result) ?? throw new InvalidDataException($"{path}: not a readable PNG or JPEG image ({Describe(result)})");
    }

    private static string Describe(SKCodecResult result) => result switch
    {
        SKCodecResult.IncompleteInput or SKCodecResult.ErrorInInput => "the data ends early or is damaged",
        SKCodecResult.InvalidInput => "invalid data",
        SKCodecResult.Unimplemented => "an unsupported encoding",
        _ => result.ToString(),
    };
}

/// <summary>What a file's header says.</summary>
/// <param name="Width">Columns.</param>
/// <param name="Height">Rows.</param>
/// <param name="IsGray">Stored as one gray channel.</param>
public readonly record struct ImageInfo(int Width, int Height, bool IsGray);
