using ConvGrad.Data;
using ConvGrad.Distributed;

namespace ConvGrad.Tests.Data;

/// <summary>Each transform against its definition on small images.</summary>
public sealed class TransformTests
{
    private static readonly ImageShape Shape = new(2, 3, 4);

    private static byte[] Ramp() => Enumerable.Range(1, Shape.Length).Select(i => (byte)i).ToArray();

    private static byte At(byte[] img, int c, int y, int x) => (uint)y < 3 && (uint)x < 4 ? img[(c * 3 + y) * 4 + x] : (byte)0;

    [Fact]
    public void Shift_MovesEveryChannelByTheDrawnOffsets_FillingWithZero()
    {
        for (int k = 0; k < 50; k++)
        {
            var random = new SampleRandom(1, 0, k);
            var copy = random;
            int dy = copy.NextInt(-2, 2), dx = copy.NextInt(-2, 2);
            var src = Ramp();
            var dst = new byte[Shape.Length];
            new RandomShift(2).Apply(src, dst, Shape, ref random);
            for (int c = 0; c < 2; c++)
            for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
            {
                Assert.Equal(At(src, c, y - dy, x - dx), dst[(c * 3 + y) * 4 + x]);
            }
        }
    }

    [Fact]
    public void Crop_IsTheWindowOfTheZeroPaddedImage()
    {
        for (int k = 0; k < 50; k++)
        {
            var random = new SampleRandom(2, 0, k);
            var copy = random;
            int top = copy.NextInt(0, 2), left = copy.NextInt(0, 2);
            var src = Ramp();
            var dst = new byte[Shape.Length];
            new RandomCrop(1).Apply(src, dst, Shape, ref random);
            for (int c = 0; c < 2; c++)
            for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
            {
                // padded[c, y', x'] = image[c, y' - 1, x' - 1]; the crop starts at (top, left).
                Assert.Equal(At(src, c, y + top - 1, x + left - 1), dst[(c * 3 + y) * 4 + x]);
            }
        }
    }

    [Fact]
    public void Flip_MirrorsEveryRowOrNone_AboutHalfTheTime()
    {
        int flipped = 0;
        for (int k = 0; k < 400; k++)
        {
            var random = new SampleRandom(3, 0, k);
            var src = Ramp();
            var dst = new byte[Shape.Length];
            new RandomHorizontalFlip().Apply(src, dst, Shape, ref random);
            bool mirrored = Enumerable.Range(0, 6).All(row => dst.AsSpan(row * 4, 4).SequenceEqual(src.AsSpan(row * 4, 4).ToArray().Reverse().ToArray()));
            Assert.True(mirrored || dst.SequenceEqual(src));
            flipped += mirrored ? 1 : 0;
        }
        Assert.InRange(flipped, 150, 250);
    }
}
