using ConvGrad.Verification;

namespace ConvGrad.Tests;

/// <summary>
/// The one float32 tolerance every test compares against: the golden-case criterion
/// max |a − e| ≤ <see cref="Relative"/> · (1 + max |e|), the same constant <c>convgrad verify</c> applies.
/// </summary>
internal static class Tolerance
{
    /// <summary>The relative float32 tolerance, 1e-4 (<see cref="TensorError.RelativeTolerance"/>).</summary>
    public const double Relative = TensorError.RelativeTolerance;

    /// <summary>Whether an error of <paramref name="maxAbsError"/> is within tolerance of values up to <paramref name="maxAbsExpected"/>.</summary>
    public static bool Within(double maxAbsError, double maxAbsExpected) => maxAbsError <= Relative * (1 + maxAbsExpected);

    /// <summary>
    /// Asserts that <paramref name="actual"/> has <paramref name="expected"/>'s length, no NaN (an element a kernel never
    /// wrote, where outputs are NaN-filled first), and matches it exactly (<paramref name="exact"/>: integer inputs, whose
    /// sums are exact) or <see cref="Within"/> tolerance; the message names <paramref name="what"/> and the worst element.
    /// </summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, bool exact, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double maxE = 0, maxErr = 0;
        int worst = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.False(float.IsNaN(actual[i]), $"{what}: NaN at {i} (an element the kernel never wrote)");
            maxE = Math.Max(maxE, Math.Abs(expected[i]));
            double err = Math.Abs((double)expected[i] - actual[i]);
            if (err > maxErr)
            {
                maxErr = err;
                worst = i;
            }
        }
        if (exact)
        {
            Assert.True(maxErr == 0, $"{what}: integer inputs must give exactly the reference result; max error {maxErr} at {worst}");
        }
        else
        {
            Assert.True(Within(maxErr, maxE), $"{what}: max error {maxErr:e3} at {worst} against scale {1 + maxE:g4}");
        }
    }

    /// <inheritdoc cref="AssertClose(ReadOnlySpan{float}, ReadOnlySpan{float}, bool, string)"/>
    public static void AssertClose(Tensor<float> expected, ReadOnlySpan<float> actual, bool exact, string what) =>
        AssertClose(expected.ReadOnlySpan, actual, exact, what);
}
