using System.Numerics;
using ConvGrad.Data;

namespace ConvGrad.Nn;

/// <summary>
/// Batch normalisation over <c>[N, C, H, W]</c> per channel (<c>nn.BatchNorm2d</c>, eps 1e-5, momentum 0.1).
/// Training: <c>x̂ = (x − μ_B)/√(σ²_B + ε)</c> with the batch mean and biased variance over N·H·W = M values,
/// <c>y = γ·x̂ + β</c>; the running statistics move by <c>r ← (1 − m)·r + m·stat</c> using the unbiased variance
/// <c>σ²_B·M/(M − 1)</c>. Evaluation: the running statistics replace the batch ones.
/// Backward (training): <c>dβ = Σ dy</c>, <c>dγ = Σ dy·x̂</c>, <c>dx = γ/(M·√(σ²_B + ε))·(M·dy − dβ − x̂·dγ)</c>;
/// (evaluation): <c>dx = γ·dy/√(r_var + ε)</c>.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class BatchNorm2d<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _xhat, _y, _dx;
    private readonly T[] _invStd;
    private bool _batchStats;

    /// <summary>Creates the layer for <paramref name="channels"/> channels with γ = 1, β = 0, running mean 0 and variance 1.</summary>
    public BatchNorm2d(int channels, double eps = 1e-5, double momentum = 0.1)
    {
        if (channels < 1 || !(eps > 0) || !(momentum is >= 0 and <= 1))
        {
            throw new ArgumentException($"BatchNorm2d needs channels >= 1, eps > 0, momentum in [0, 1]; got {channels}, {eps}, {momentum}", nameof(channels));
        }
        Eps = eps;
        Momentum = momentum;
        Weight = new Parameter<T>("weight", Tensor<T>.Zeros(channels));
        Weight.Value.Fill(T.One);
        Bias = new Parameter<T>("bias", Tensor<T>.Zeros(channels));
        RunningMean = Tensor<T>.Zeros(channels);
        RunningVar = Tensor<T>.Zeros(channels);
        RunningVar.Fill(T.One);
        _invStd = new T[channels];
    }

    /// <summary>ε added to the variance.</summary>
    public double Eps { get; }

    /// <summary>The running-statistics update rate.</summary>
    public double Momentum { get; }

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
    public override IEnumerable<Parameter<T>> Parameters() => [Weight, Bias];

    /// <inheritdoc />
    public override IEnumerable<SafeTensor> State(string prefix = "") =>
        base.State(prefix).Concat([
            SafeTensor.FromTensor(prefix + "running_mean", RunningMean),
            SafeTensor.FromTensor(prefix + "running_var", RunningVar),
            SafeTensor.Int64Scalar(prefix + "num_batches_tracked", NumBatchesTracked)]);

    /// <inheritdoc />
    public override void LoadState(IReadOnlyDictionary<string, SafeTensor> state, string prefix = "")
    {
        base.LoadState(state, prefix);
        StateIo.Load(state, prefix + "running_mean", RunningMean);
        StateIo.Load(state, prefix + "running_var", RunningVar);
        NumBatchesTracked = state.TryGetValue(prefix + "num_batches_tracked", out var t) ? t.Int64Value() : 0;
    }

    /// <inheritdoc />
    public override Tensor<T> Forward(Tensor<T> x)
    {
        int c = Weight.Value.Dim(0);
        CheckInput(x, 4, "BatchNorm2d", "[N, C, H, W]", c);
        int n = x.Dim(0), plane = x.Dim(2) * x.Dim(3);
        long m = (long)n * plane;
        if (Training && m < 2)
        {
            throw new ArgumentException($"BatchNorm2d in training mode needs more than one value per channel; got input {Shapes.Format(x.Shape)}", nameof(x));
        }
        var xhat = Reuse(ref _xhat, x.Shape).Span;
        var y = Reuse(ref _y, x.Shape, x);
        var ys = y.Span;
        var xs = x.ReadOnlySpan;
        var g = Weight.Value.ReadOnlySpan;
        var b = Bias.Value.ReadOnlySpan;
        var rm = RunningMean.Span;
        var rv = RunningVar.Span;
        T eps = T.CreateChecked(Eps), mom = T.CreateChecked(Momentum), mt = T.CreateChecked(m);
        for (int ch = 0; ch < c; ch++)
        {
            T mean, var;
            if (Training)
            {
                // Two passes (mean, then squared deviations): stable where E[x²] − E[x]² is not.
                T sum = T.Zero;
                for (int i = 0; i < n; i++)
                {
                    foreach (var v in xs.Slice((i * c + ch) * plane, plane))
                    {
                        sum += v;
                    }
                }
                mean = sum / mt;
                T sq = T.Zero;
                for (int i = 0; i < n; i++)
                {
                    foreach (var v in xs.Slice((i * c + ch) * plane, plane))
                    {
                        sq += (v - mean) * (v - mean);
                    }
                }
                var = sq / mt;
                rm[ch] = (T.One - mom) * rm[ch] + mom * mean;
                rv[ch] = (T.One - mom) * rv[ch] + mom * var * mt / (mt - T.One);
            }
            else
            {
                mean = rm[ch];
                var = rv[ch];
            }
            T inv = T.One / T.Sqrt(var + eps);
            _invStd[ch] = inv;
            for (int i = 0; i < n; i++)
            {
                int o = (i * c + ch) * plane;
                for (int j = o; j < o + plane; j++)
                {
                    T h = (xs[j] - mean) * inv;
                    xhat[j] = h;
                    ys[j] = g[ch] * h + b[ch];
                }
            }
        }
        _batchStats = Training;
        if (Training)
        {
            NumBatchesTracked++;
        }
        return y;
    }

    /// <inheritdoc />
    public override Tensor<T>? Backward(Tensor<T> dy)
    {
        var xhat = Cached(_xhat, "BatchNorm2d").ReadOnlySpan;
        int c = Weight.Value.Dim(0), n = dy.Dim(0), plane = dy.Dim(2) * dy.Dim(3);
        T mt = T.CreateChecked((long)n * plane);
        var d = dy.ReadOnlySpan;
        var dg = Weight.Grad.Span;
        var db = Bias.Grad.Span;
        var g = Weight.Value.ReadOnlySpan;
        Span<T> dx = ComputeInputGradient ? Reuse(ref _dx, dy.Shape, dy).Span : default;
        for (int ch = 0; ch < c; ch++)
        {
            T sumDy = T.Zero, sumDyX = T.Zero;
            for (int i = 0; i < n; i++)
            {
                int o = (i * c + ch) * plane;
                for (int j = o; j < o + plane; j++)
                {
                    sumDy += d[j];
                    sumDyX += d[j] * xhat[j];
                }
            }
            db[ch] = sumDy;
            dg[ch] = sumDyX;
            if (dx.IsEmpty)
            {
                continue;
            }
            T scale = g[ch] * _invStd[ch];
            for (int i = 0; i < n; i++)
            {
                int o = (i * c + ch) * plane;
                for (int j = o; j < o + plane; j++)
                {
                    dx[j] = _batchStats
                        ? scale / mt * (mt * d[j] - sumDy - xhat[j] * sumDyX)
                        : scale * d[j];
                }
            }
        }
        return ComputeInputGradient ? _dx : null;
    }
}
