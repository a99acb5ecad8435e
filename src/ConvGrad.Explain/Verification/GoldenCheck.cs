namespace ConvGrad.Verification;

/// <summary>The worst error of one result tensor against the golden values.</summary>
/// <param name="Tensor">y, dx, dw or db.</param>
/// <param name="MaxAbsError">max |a − e|.</param>
/// <param name="Scale">1 + max |e|.</param>
internal readonly record struct TensorError(string Tensor, double MaxAbsError, double Scale)
{
    /// <summary>The golden tolerance: max |a − e| ≤ 1e-4 · (1 + max |e|).</summary>
    public const double RelativeTolerance = 1e-4;

    /// <summary>max |a − e| / (1 + max |e|).</summary>
    public double Relative => MaxAbsError / Scale;

    /// <summary>Whether the error is within the golden tolerance.</summary>
    public bool Passed => MaxAbsError <= RelativeTolerance * Scale;
}

/// <summary>The outcome of one case on one engine.</summary>
internal sealed record CaseResult(string Id, string Engine, IReadOnlyList<TensorError> Errors, string? Failure)
{
    /// <summary>Passed: no failure message and every tensor within tolerance.</summary>
    public bool Passed => Failure is null && Errors.All(e => e.Passed);
}

/// <summary>Runs a golden case through the float32 passes of one engine and compares every result.</summary>
internal static class GoldenCheck
{
    public static CaseResult Run(GoldenCase c, ConvOptions options, string engineName)
    {
        var errors = new List<TensorError>();
        try
        {
            var x = Tensor<float>.FromArray(ToFloat(c.X), c.InputShape);
            var w = Tensor<float>.FromArray(ToFloat(c.W), c.KernelShape);
            var b = c.B is null ? null : Tensor<float>.FromArray(ToFloat(c.B), c.B.Length);
            var dy = Tensor<float>.FromArray(ToFloat(c.Dy), c.OutputShape);
            Tensor<float> y, dx, dw;
            if (c.Transposed)
            {
                y = ConvTranspose.Forward(x, w, b, c.Geometry, options);
                dx = ConvTranspose.BackwardData(dy, w, c.Geometry, c.InputShape, options);
                dw = ConvTranspose.BackwardWeight(x, dy, c.Geometry, c.KernelShape, options);
            }
            else
            {
                y = Conv.Forward(x, w, b, c.Geometry, options);
                dx = Conv.BackwardData(dy, w, c.Geometry, c.InputShape, options);
                dw = Conv.BackwardWeight(x, dy, c.Geometry, c.KernelShape, options);
            }
            string? failure = Compare("y", y, c.OutputShape, c.Y, errors)
                ?? Compare("dx", dx, c.InputShape, c.Dx, errors)
                ?? Compare("dw", dw, c.KernelShape, c.Dw, errors);
            if (c.Db is not null)
            {
                failure ??= Compare("db", Conv.BackwardBias(dy), [c.Db.Length], c.Db, errors);
            }
            return new CaseResult(c.Id, engineName, errors, failure);
        }
        catch (ArgumentException e)
        {
            return new CaseResult(c.Id, engineName, errors, $"the engine rejected the case: {e.Message}");
        }
    }

    private static string? Compare(string name, Tensor<float> actual, int[] expectedShape, double[] expected, List<TensorError> errors)
    {
        if (!actual.Shape.SequenceEqual(expectedShape))
        {
            return $"{name} has shape {ShapeText.Format(actual.Shape)}, expected {ShapeText.Format(expectedShape)}";
        }
        if (actual.Length != expected.Length)
        {
            return $"{name} has {actual.Length} elements but the case lists {expected.Length}";
        }
        double maxErr = 0, maxRef = 0;
        var a = actual.ReadOnlySpan;
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs(a[i] - expected[i]);
            if (!(err <= maxErr))
            {
                maxErr = double.IsNaN(err) ? double.PositiveInfinity : err;
            }
            maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
        }
        errors.Add(new TensorError(name, maxErr, 1 + maxRef));
        return null;
    }

    private static float[] ToFloat(double[] values) => Array.ConvertAll(values, v => (float)v);
}
