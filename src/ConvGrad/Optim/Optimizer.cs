using System.Numerics;
using System.Numerics.Tensors;
using ConvGrad.Data;
using ConvGrad.Nn;

namespace ConvGrad.Optim;

/// <summary>Updates parameters from their gradients; <see cref="LearningRate"/> may be changed between steps (schedules).</summary>
/// <typeparam name="T">float or double.</typeparam>
public abstract class Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Takes the parameters to update (each keeps its own state in the optimiser).</summary>
    /// <param name="parameters">The parameters to update.</param>
    /// <param name="learningRate">The learning rate.</param>
    protected Optimizer(IEnumerable<Parameter<T>> parameters, double learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Parameters = parameters.ToArray();
        LearningRate = learningRate;
    }

    /// <summary>The parameters this optimiser updates.</summary>
    public IReadOnlyList<Parameter<T>> Parameters { get; }

    /// <summary>The step size of the next <see cref="Step"/>; must be finite and &gt;= 0.</summary>
    public double LearningRate
    {
        get => _lr;
        set
        {
            if (!(value >= 0) || !double.IsFinite(value))
            {
                throw new ArgumentException($"learning rate must be finite and >= 0; got {value}", nameof(value));
            }
            _lr = value;
        }
    }

    private double _lr;

    /// <summary>Number of steps taken.</summary>
    public int Steps { get; private set; }

    /// <summary>
    /// The optimiser's state for a checkpoint: the step count (<c>step</c>, I64) and every per-parameter buffer
    /// (<c>NAME.i</c>, e.g. <c>momentum.3</c>), so that a restored optimiser continues bitwise as the original would.
    /// </summary>
    public IEnumerable<SafeTensor> State()
    {
        yield return SafeTensor.Int64Scalar("step", Steps);
        foreach (var (name, buffers) in Buffers())
        {
            for (int i = 0; i < buffers.Length; i++)
            {
                yield return SafeTensor.FromTensor($"{name}.{i}", Tensor<T>.FromArray(buffers[i], buffers[i].Length));
            }
        }
    }

    /// <summary>Restores what <see cref="State"/> wrote.</summary>
    /// <exception cref="ArgumentException">An entry is missing or has another length.</exception>
    /// <param name="state">The saved optimizer tensors.</param>
    public void LoadState(IReadOnlyDictionary<string, SafeTensor> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!state.TryGetValue("step", out var step))
        {
            throw new ArgumentException("the optimiser state has no 'step'", nameof(state));
        }
        foreach (var (name, buffers) in Buffers())
        {
            for (int i = 0; i < buffers.Length; i++)
            {
                string key = $"{name}.{i}";
                if (!state.TryGetValue(key, out var t) || t.Length != buffers[i].Length)
                {
                    throw new ArgumentException($"the optimiser state lacks '{key}' of {buffers[i].Length} elements", nameof(state));
                }
                t.CopyTo<T>(buffers[i]);
            }
        }
        Steps = checked((int)step.Int64Value());
    }

    /// <summary>The per-parameter state buffers by name (none for plain SGD).</summary>
    protected virtual IEnumerable<(string Name, T[][] Buffers)> Buffers() => [];

    /// <summary>Updates every parameter that has a gradient (parameters without one are skipped, as in PyTorch).</summary>
    public void Step()
    {
        Steps++;
        for (int i = 0; i < Parameters.Count; i++)
        {
            if (Parameters[i].Grad is { } g)
            {
                Update(i, Parameters[i].Value.Span, g.ReadOnlySpan);
            }
        }
    }

    /// <summary>Clears every parameter's gradient (<c>optimizer.zero_grad()</c>); the next backward pass starts them afresh.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters)
        {
            p.ZeroGrad();
        }
    }

    /// <summary>Updates parameter <paramref name="index"/> in place.</summary>
    /// <param name="index">The parameter, by position.</param>
    /// <param name="w">The parameter's values, updated in place.</param>
    /// <param name="g">The parameter's gradient.</param>
    protected abstract void Update(int index, Span<T> w, ReadOnlySpan<T> g);
}

/// <summary>
/// Stochastic gradient descent with momentum and L2 weight decay, PyTorch's <c>torch.optim.SGD</c> update:
/// <c>g ← ∇ + λ·w</c>; <c>v ← μ·v + g</c> (<c>v = g</c> on the first step); <c>w ← w − η·(nesterov ? g + μ·v : v)</c>.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Sgd<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[][] _velocity;
    private readonly T[] _g;

    /// <summary>Creates the optimiser.</summary>
    /// <param name="parameters">The parameters to update.</param>
    /// <param name="lr">The learning rate (PyTorch's <c>lr</c>).</param>
    /// <param name="momentum">The momentum factor.</param>
    /// <param name="weightDecay">The L2 penalty added to each gradient (0: none).</param>
    /// <param name="nesterov">Whether to use Nesterov momentum.</param>
    public Sgd(IEnumerable<Parameter<T>> parameters, double lr, double momentum = 0, double weightDecay = 0, bool nesterov = false)
        : base(parameters, lr)
    {
        if (!(momentum is >= 0 and < 1) || !(weightDecay >= 0))
        {
            throw new ArgumentException($"momentum must be in [0, 1) and weight decay >= 0; got {momentum}, {weightDecay}", nameof(momentum));
        }
        Momentum = momentum;
        WeightDecay = weightDecay;
        Nesterov = nesterov;
        _velocity = Parameters.Select(p => new T[p.Value.Length]).ToArray();
        _g = new T[Parameters.Count == 0 ? 0 : Parameters.Max(p => (int)p.Value.Length)];
    }

    /// <summary>μ.</summary>
    public double Momentum { get; }

    /// <summary>λ.</summary>
    public double WeightDecay { get; }

    /// <summary>Whether the Nesterov form is used.</summary>
    public bool Nesterov { get; }

    /// <inheritdoc />
    protected override IEnumerable<(string Name, T[][] Buffers)> Buffers() => [("momentum", _velocity)];

    /// <inheritdoc />
    protected override void Update(int index, Span<T> w, ReadOnlySpan<T> grad)
    {
        T lr = T.CreateChecked(LearningRate), mu = T.CreateChecked(Momentum);
        if (Momentum > 0 && Steps > 1)
        {
            // The usual step, one pass over w, v and the gradient instead of four: the same products and sums in the
            // same order (no fused multiply-adds), so the same bits as the passes below.
            SgdMomentumStep.Run(w, grad, _velocity[index], T.CreateChecked(WeightDecay), mu, -lr, Nesterov);
            return;
        }
        var g = _g.AsSpan(0, w.Length);
        TensorPrimitives.MultiplyAdd(w, T.CreateChecked(WeightDecay), grad, g);
        if (Momentum > 0)
        {
            var v = _velocity[index].AsSpan();
            if (Steps == 1)
            {
                g.CopyTo(v);
            }
            else
            {
                TensorPrimitives.MultiplyAdd(v, mu, g, v);
            }
            if (Nesterov)
            {
                TensorPrimitives.MultiplyAdd(v, mu, g, g);
            }
            else
            {
                v.CopyTo(g);
            }
        }
        TensorPrimitives.MultiplyAdd(g, -lr, w, w);
    }
}

/// <summary>
/// Adam (PyTorch's <c>torch.optim.Adam</c>, L2 weight decay added to the gradient):
/// <c>g ← ∇ + λ·w</c>; <c>m ← β₁m + (1−β₁)g</c>; <c>v ← β₂v + (1−β₂)g²</c>;
/// <c>w ← w − η·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)</c>.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Adam<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[][] _m, _v;

    /// <summary>Creates the optimiser.</summary>
    /// <param name="parameters">The parameters to update.</param>
    /// <param name="lr">The learning rate (PyTorch's <c>lr</c>).</param>
    /// <param name="beta1">The decay of the running mean of gradients.</param>
    /// <param name="beta2">The decay of the running mean of squared gradients.</param>
    /// <param name="eps">The term added to denominators for numerical stability.</param>
    /// <param name="weightDecay">The L2 penalty added to each gradient (0: none).</param>
    public Adam(IEnumerable<Parameter<T>> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
        : base(parameters, lr)
    {
        if (!(beta1 is >= 0 and < 1) || !(beta2 is >= 0 and < 1) || !(eps > 0) || !(weightDecay >= 0))
        {
            throw new ArgumentException($"Adam needs betas in [0, 1), eps > 0 and weight decay >= 0; got {beta1}, {beta2}, {eps}, {weightDecay}", nameof(beta1));
        }
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        WeightDecay = weightDecay;
        _m = Parameters.Select(p => new T[p.Value.Length]).ToArray();
        _v = Parameters.Select(p => new T[p.Value.Length]).ToArray();
    }

    /// <summary>β₁.</summary>
    public double Beta1 { get; }

    /// <summary>β₂.</summary>
    public double Beta2 { get; }

    /// <summary>ε.</summary>
    public double Eps { get; }

    /// <summary>λ.</summary>
    public double WeightDecay { get; }

    /// <inheritdoc />
    protected override IEnumerable<(string Name, T[][] Buffers)> Buffers() => [("exp_avg", _m), ("exp_avg_sq", _v)];

    /// <inheritdoc />
    protected override void Update(int index, Span<T> w, ReadOnlySpan<T> grad)
    {
        var m = _m[index];
        var v = _v[index];
        T b1 = T.CreateChecked(Beta1), b2 = T.CreateChecked(Beta2), wd = T.CreateChecked(WeightDecay), eps = T.CreateChecked(Eps);
        T c1 = T.One / T.CreateChecked(1 - Math.Pow(Beta1, Steps));
        T c2 = T.One / T.CreateChecked(1 - Math.Pow(Beta2, Steps));
        T lr = T.CreateChecked(LearningRate);
        for (int i = 0; i < w.Length; i++)
        {
            T g = grad[i] + wd * w[i];
            m[i] = b1 * m[i] + (T.One - b1) * g;
            v[i] = b2 * v[i] + (T.One - b2) * g * g;
            w[i] -= lr * (m[i] * c1) / (T.Sqrt(v[i] * c2) + eps);
        }
    }
}
