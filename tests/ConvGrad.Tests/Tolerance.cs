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
}
