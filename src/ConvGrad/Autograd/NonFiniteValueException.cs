namespace ConvGrad.Autograd;

/// <summary>
/// In <see cref="AnomalyMode"/>: the first operation whose output (forward) or input gradient (backward) holds NaN or
/// ±∞, as PyTorch's anomaly mode reports <c>Function 'MulBackward0' returned nan values in its 0th output</c>.
/// </summary>
public sealed class NonFiniteValueException : ArithmeticException
{
    /// <summary>Creates the exception for operation <paramref name="operation"/> in pass <paramref name="pass"/>.</summary>
    /// <param name="operation">The operation (forward: <c>Conv</c>, <c>Linear</c>, ...; backward: <c>ConvolutionBackward</c>, ...).</param>
    /// <param name="pass">forward or backward.</param>
    /// <param name="detail">What is non-finite.</param>
    /// <param name="value">The first non-finite value as text (<c>NaN</c>, <c>Infinity</c>, <c>-Infinity</c>).</param>
    public NonFiniteValueException(string operation, string pass, string detail, string value)
        : base($"the first non-finite value came from {pass} operation {operation}: {detail}")
    {
        Operation = operation;
        Pass = pass;
        Value = value;
    }

    /// <summary>The first non-finite value as text.</summary>
    public string Value { get; }

    /// <summary>The operation whose result went non-finite.</summary>
    public string Operation { get; }

    /// <summary><c>forward</c> or <c>backward</c>.</summary>
    public string Pass { get; }
}
