using System.Numerics;
using System.Numerics.Tensors;
using ConvGrad.Cpu;

namespace ConvGrad.Nn;

/// <summary>
/// Fully connected layer (<c>nn.Linear</c>): <c>y = x·Wᵀ + b</c>.
/// Shapes: x <c>[N, in]</c>, weight <c>[out, in]</c>, bias <c>[out]</c>, y <c>[N, out]</c>.
/// Backward: <c>dx = dy·W</c>, <c>dW = dyᵀ·x</c>, <c>db = Σ_n dy[n, :]</c>; every product runs along contiguous rows
/// (TensorPrimitives dot products and fused multiply-adds), in a fixed order. Rows of y, dx and dW are split
/// statically over the worker threads; each element is computed by one thread in the same order, so the result
/// does not depend on the thread count.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class Linear<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _x, _y, _dx;
    private readonly RowWork _work = new();
    private readonly int _threads;

    /// <summary>Creates the layer with Kaiming-normal weights from <paramref name="rng"/> and a zero bias.</summary>
    /// <param name="inFeatures">in.</param>
    /// <param name="outFeatures">out.</param>
    /// <param name="rng">Seeded generator for the initial weights.</param>
    /// <param name="bias">Whether the layer has a bias.</param>
    /// <param name="options">Worker threads (<see cref="ConvOptions.Threads"/>); the engine setting is not used.</param>
    public Linear(int inFeatures, int outFeatures, Random rng, bool bias = true, ConvOptions? options = null)
    {
        _threads = (options ?? ConvOptions.Default).EffectiveThreads;
        if (inFeatures < 1 || outFeatures < 1)
        {
            throw new ArgumentException($"feature counts must be >= 1; got in {inFeatures}, out {outFeatures}", nameof(inFeatures));
        }
        Weight = new Parameter<T>("weight", Tensor<T>.Zeros(outFeatures, inFeatures));
        Init.KaimingNormal(Weight.Value, rng);
        Bias = bias ? new Parameter<T>("bias", Tensor<T>.Zeros(outFeatures)) : null;
    }

    /// <summary>The weight <c>[out, in]</c>.</summary>
    public Parameter<T> Weight { get; }

    /// <summary>The bias <c>[out]</c>, or null.</summary>
    public Parameter<T>? Bias { get; }

    /// <inheritdoc />
    public override IEnumerable<Parameter<T>> Parameters() => Bias is null ? [Weight] : [Weight, Bias];

    /// <inheritdoc />
    public override Tensor<T> Forward(Tensor<T> x)
    {
        int outF = Weight.Value.Dim(0), inF = Weight.Value.Dim(1);
        CheckInput(x, 2, "Linear", "[N, in]");
        if (x.Dim(1) != inF)
        {
            throw new ArgumentException($"Linear expects input [N, {inF}]; got {Shapes.Format(x.Shape)}", nameof(x));
        }
        int n = x.Dim(0);
        var y = Reuse(ref _y, [n, outF], x);
        _x = x;
        Split(Pass.Forward, x, y, n);
        return y;
    }

    /// <inheritdoc />
    public override Tensor<T>? Backward(Tensor<T> dy)
    {
        var x = Cached(_x, "Linear");
        int n = x.Dim(0), outF = Weight.Value.Dim(0), inF = Weight.Value.Dim(1);
        Split(Pass.WeightGradient, x, dy, outF);
        if (Bias is not null)
        {
            var d = dy.ReadOnlySpan;
            var db = Bias.Grad.Span;
            db.Clear();
            for (int i = 0; i < n; i++)
            {
                TensorPrimitives.Add(db, d.Slice(i * outF, outF), db);
            }
        }
        if (!ComputeInputGradient)
        {
            return null;
        }
        var dx = Reuse(ref _dx, x.Shape, dy);
        Split(Pass.InputGradient, dx, dy, n);
        return dx;
    }

    private enum Pass { Forward, WeightGradient, InputGradient }

    private void Split(Pass pass, Tensor<T> a, Tensor<T> b, int rows)
    {
        _work.Set(this, pass, a, b, rows);
        long flops = Weight.Value.Length * (long)a.Dim(0);
        int parts = flops < 1 << 16 ? 1 : Math.Min(_threads, rows);
        WorkerPool.Run(_work, parts);
        _work.Set(null, pass, null, null, 0);
    }

    /// <summary>
    /// One pass over a static range of rows: forward rows i of y = x·Wᵀ + b; weight-gradient rows o of dW = dyᵀ·x;
    /// input-gradient rows i of dx = dy·W.
    /// </summary>
    private sealed class RowWork : IPartitionedWork
    {
        private Linear<T>? _layer;
        private Pass _pass;
        private Tensor<T>? _a, _b;
        private int _rows;

        public void Set(Linear<T>? layer, Pass pass, Tensor<T>? a, Tensor<T>? b, int rows)
        {
            _layer = layer;
            _pass = pass;
            _a = a;
            _b = b;
            _rows = rows;
        }

        public void Run(int part, int parts)
        {
            var layer = _layer!;
            int r0 = (int)((long)_rows * part / parts), r1 = (int)((long)_rows * (part + 1) / parts);
            int outF = layer.Weight.Value.Dim(0), inF = layer.Weight.Value.Dim(1);
            var w = layer.Weight.Value.ReadOnlySpan;
            switch (_pass)
            {
                case Pass.Forward:
                {
                    var xs = _a!.ReadOnlySpan;
                    var ys = _b!.Span;
                    ReadOnlySpan<T> bias = layer.Bias is null ? default : layer.Bias.Value.ReadOnlySpan;
                    for (int i = r0; i < r1; i++)
                    {
                        var row = xs.Slice(i * inF, inF);
                        for (int o = 0; o < outF; o++)
                        {
                            ys[i * outF + o] = TensorPrimitives.Dot(row, w.Slice(o * inF, inF)) + (bias.IsEmpty ? T.Zero : bias[o]);
                        }
                    }
                    break;
                }
                case Pass.WeightGradient:
                {
                    var xs = _a!.ReadOnlySpan;
                    var d = _b!.ReadOnlySpan;
                    int n = _a.Dim(0);
                    var dw = layer.Weight.Grad.Span;
                    for (int o = r0; o < r1; o++)
                    {
                        var g = dw.Slice(o * inF, inF);
                        g.Clear();
                        for (int i = 0; i < n; i++)
                        {
                            TensorPrimitives.MultiplyAdd(xs.Slice(i * inF, inF), d[i * outF + o], g, g);
                        }
                    }
                    break;
                }
                default:
                {
                    var dxs = _a!.Span;
                    var d = _b!.ReadOnlySpan;
                    for (int i = r0; i < r1; i++)
                    {
                        var row = dxs.Slice(i * inF, inF);
                        row.Clear();
                        for (int o = 0; o < outF; o++)
                        {
                            TensorPrimitives.MultiplyAdd(w.Slice(o * inF, inF), d[i * outF + o], row, row);
                        }
                    }
                    break;
                }
            }
        }
    }
}
