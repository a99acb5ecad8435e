using System.Numerics;
using ConvGrad.Autograd;
using ConvGrad.Data;

namespace ConvGrad.Nn;

/// <summary>
/// Batch normalisation over <c>[N, C, H, W]</c> per channel (<c>nn.BatchNorm2d</c>, eps 1e-5, momentum 0.1) through
/// <see cref="Functional.BatchNorm{T}"/>: batch statistics in training (updating the running ones), running statistics
/// in evaluation. State: <c>weight</c>, <c>bias</c>, <c>running_mean</c>, <c>running_var</c>, <c>num_batches_tracked</c> (I64).
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class BatchNorm2d<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates the layer for <paramref name="channels"/> channels with γ = 1, β = 0, running mean 0 and variance 1.</summary>
    /// <param name="channels">The number of channels C of the input <c>[N, C, H, W]</c>.</param>
    /// <param name="eps">The term added to denominators for numerical stability.</param>
    /// <param name="momentum">The weight of each new batch in the running statistics.</param>
    public BatchNorm2d(int channels, double eps = 1e-5, double momentum = 0.1)
    {
        if (channels < 1 || !(eps > 0) || !(momentum is >= 0 and <= 1))
        {
            throw new ArgumentException($"BatchNorm2d needs channels >= 1, eps > 0, momentum in [0, 1]; got {channels}, {eps}, {momentum}", nameof(channels));
        }
        Eps = eps;
        Momentum = momentum;
        Weight = RegisterParameter("weight", new Parameter<T>(Tensor<T>.Zeros(channels)));
        Weight.Value.Fill(T.One);
        Bias = RegisterParameter("bias", new Parameter<T>(Tensor<T>.Zeros(channels)));
        RunningMean = RegisterBuffer("running_mean", Tensor<T>.Zeros(channels));
        RunningVar = RegisterBuffer("running_var", Tensor<T>.Zeros(channels));
        RunningVar.Fill(T.One);
    }

    /// <summary>ε added to the variance.</summary>
    public double Eps { get; }

    /// <summary>The running-statistics update rate.</summary>
    public double Momentum { get; }

    /// <inheritdoc />
    protected override string ExtraRepr() =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{RunningMean.Length}, eps={Eps:G}, momentum={Momentum:G}");

    /// <summary>γ <c>[C]</c>.</summary>
    public Parameter<T> Weight { get; }

    /// <summary>β <c>[C]</c>.</summary>
    public Parameter<T> Bias { get; }

    /// <summary>Running mean <c>[C]</c> (used in evaluation).</summary>
    public Tensor<T> RunningMean { get; }

    /// <summary>Running (unbiased) variance <c>[C]</c> (used in evaluation).</summary>
    public Tensor<T> RunningVar { get; }

    /// <summary>Training batches seen (PyTorch's <c>num_batches_tracked</c>).</summary>
    public long NumBatchesTracked { get; private set; }

    /// <inheritdoc />
    public override Variable<T> Forward(Variable<T> x)
    {
        CheckInput(x, 4, "BatchNorm2d", "[N, C, H, W]", Weight.Value.Dim(0));
        var y = Functional.BatchNorm(x, Weight, Bias, RunningMean, RunningVar, Training, Momentum, Eps);
        if (Training)
        {
            NumBatchesTracked++;
        }
        return y;
    }

    /// <summary>
    /// <c>relu(Forward(x) + residual)</c> (<c>relu(Forward(x))</c> without a residual) as one fused operation on the
    /// channel-blocked layout, bitwise what the three operations give (the residual blocks of <see cref="ResNet{T}"/>).
    /// </summary>
    /// <param name="x">Input <c>[N, C, H, W]</c>.</param>
    /// <param name="residual">The shortcut added before the ReLU, of x's shape, or null.</param>
    internal Variable<T> ForwardRelu(Variable<T> x, Variable<T>? residual = null)
    {
        CheckInput(x, 4, "BatchNorm2d", "[N, C, H, W]", Weight.Value.Dim(0));
        var y = Functional.BatchNormRelu(x, Weight, Bias, RunningMean, RunningVar, Training, Momentum, Eps, residual);
        if (Training)
        {
            NumBatchesTracked++;
        }
        return y;
    }

    /// <inheritdoc />
    protected override IEnumerable<SafeTensor> ExtraState(string prefix) =>
        [SafeTensor.Int64Scalar(prefix + "num_batches_tracked", NumBatchesTracked)];

    /// <inheritdoc />
    protected override IEnumerable<string> ExtraStateNames() => ["num_batches_tracked"];

    /// <inheritdoc />
    protected override void LoadExtraState(IReadOnlyDictionary<string, SafeTensor> state, string prefix) =>
        NumBatchesTracked = state.TryGetValue(prefix + "num_batches_tracked", out var t) ? t.Int64Value() : 0;
}
