using System.Numerics;
using System.Numerics.Tensors;
using ConvGrad.Autograd;
using ConvGrad.Data;
using ConvGrad.Distributed;
using ConvGrad.Nn;
using ConvGrad.Optim;

namespace ConvGrad.Training;

/// <summary>Progress of one training batch, for progress bars.</summary>
/// <param name="Batch">1-based batch number within the epoch.</param>
/// <param name="Batches">Batches in the epoch.</param>
/// <param name="Loss">This batch's mean loss.</param>
/// <param name="Images">Images processed so far in the epoch.</param>
/// <param name="LearningRate">The rate used for this batch.</param>
public readonly record struct BatchProgress(int Batch, int Batches, double Loss, int Images, double LearningRate);

/// <summary>
/// Mini-batch training of an image classifier with softmax cross-entropy (forward, <c>loss.Backward()</c>, optimiser
/// step, as a PyTorch loop): shuffles with its own seeded generator,
/// optionally shifts digits by up to <see cref="MaxShift"/> pixels, sets the optimiser's rate from the schedule before
/// every step. Everything is sequential or statically split, so a seed and thread count fix the whole loss curve.
/// </summary>
/// <typeparam name="T">float (or double for tests).</typeparam>
public sealed class ClassifierTrainer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Random _shuffle;
    private readonly Random _shift;
    private int _step;

    /// <summary>Creates the trainer.</summary>
    /// <param name="model">The model to train.</param>
    /// <param name="optimizer">The optimizer over the model's parameters.</param>
    /// <param name="schedule">The learning rate per step.</param>
    /// <param name="batchSize">Samples per batch.</param>
    /// <param name="seed">The run seed (shuffle order, augmentation, dropout).</param>
    /// <param name="maxShift">The largest random shift, in pixels, of each image on each axis (0: no augmentation).</param>
    public ClassifierTrainer(Module<T> model, Optimizer<T> optimizer, ILearningRateSchedule schedule, int batchSize, int seed, int maxShift = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(schedule);
        if (batchSize < 1 || maxShift < 0)
        {
            throw new ArgumentException($"batch size must be >= 1 and maxShift >= 0; got {batchSize}, {maxShift}", nameof(batchSize));
        }
        Model = model;
        Optimizer = optimizer;
        Schedule = schedule;
        BatchSize = batchSize;
        MaxShift = maxShift;
        _shuffle = new Random(seed);
        _shift = new Random(seed + 1);
        Seed = seed;
    }

    /// <summary>The seed of shuffling, shifts and dropout.</summary>
    public int Seed { get; }

    /// <summary>The model being trained.</summary>
    public Module<T> Model { get; }

    /// <summary>The optimiser.</summary>
    public Optimizer<T> Optimizer { get; }

    /// <summary>The learning-rate schedule (indexed by the global step).</summary>
    public ILearningRateSchedule Schedule { get; }

    /// <summary>Images per step.</summary>
    public int BatchSize { get; }

    /// <summary>Largest random shift (pixels) applied to training digits; 0 disables augmentation.</summary>
    public int MaxShift { get; }

    /// <summary>Steps per epoch for a set of <paramref name="count"/> digits.</summary>
    /// <param name="count">The number of samples.</param>
    /// <param name="batchSize">Samples per batch.</param>
    public static int BatchesPerEpoch(int count, int batchSize) => (count + batchSize - 1) / batchSize;

    /// <summary>One pass over <paramref name="data"/> in a fresh random order; returns the loss of every batch.</summary>
    /// <param name="data">The training samples.</param>
    /// <param name="progress">Called after each batch, or null.</param>
    public List<double> TrainEpoch(MnistSet data, Action<BatchProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        Model.SetTraining(true);
        var order = Enumerable.Range(0, data.Count).ToArray();
        _shuffle.Shuffle(order);
        int batches = BatchesPerEpoch(data.Count, BatchSize);
        var losses = new List<double>(batches);
        Tensor<T>? x = null;
        var labels = new int[BatchSize];
        for (int bi = 0; bi < batches; bi++)
        {
            int start = bi * BatchSize, b = Math.Min(BatchSize, data.Count - start);
            if (x is null || x.Dim(0) != b)
            {
                x = Tensor<T>.Uninitialized(b, 1, data.Rows, data.Cols);
            }
            data.FillBatch(order.AsSpan(start, b), x, labels.AsSpan(0, b), MaxShift > 0 ? _shift : null, MaxShift);
            double value;
            using (TensorScope.Begin())
            {
                var loss = Functional.CrossEntropy(Model.Forward(x), labels.AsSpan(0, b));
                value = loss.Item();
                if (!double.IsFinite(value))
                {
                    throw new InvalidOperationException($"the loss became {value} at step {_step}; lower the learning rate");
                }
                Optimizer.ZeroGrad();
                loss.Backward();
                Optimizer.LearningRate = Schedule.At(_step);
                Optimizer.Step();
            }
            _step++;
            losses.Add(value);
            progress?.Invoke(new BatchProgress(bi + 1, batches, value, start + b, Optimizer.LearningRate));
        }
        return losses;
    }

    /// <summary>
    /// Epoch <paramref name="epoch"/> (0-based) with randomness keyed so that it depends on nothing but the seed, the
    /// epoch and the sample: the order is <see cref="SampleRandom.EpochOrder"/>, a digit's shift and dropout mask come
    /// from <see cref="SampleRandom"/> keyed by its index in <paramref name="data"/>, and the schedule's step is
    /// <c>epoch · batches + batch</c>. A resumed run therefore continues bitwise as an uninterrupted one would.
    /// <para>
    /// Data parallel: with <paramref name="communicator"/> of R ranks, every global batch (the 1-process batch) is
    /// split by <see cref="Shard.Of(int, Communicator)"/>; each rank runs forward and backward on its shard, scales its
    /// gradients by its shard's share of the batch, and <paramref name="bucketer"/> (built with
    /// <see cref="GradientReduction.Sum"/>) sums them over the ranks — the batch-mean gradient — before the same
    /// optimiser step on every rank. Each gradient goes to the bucketer from a post-accumulate-grad hook
    /// (<see cref="Variable{T}.RegisterPostAccumulateGradHook"/>) the moment the backward pass has finished it, so a
    /// bucket's all-reduce starts while the earlier layers' backward still runs; the bucketer starts buckets in a fixed
    /// order and the optimiser step waits for all of them.
    /// </para>
    /// </summary>
    /// <returns>The loss of every global batch (the same on every rank).</returns>
    /// <param name="data">The training samples.</param>
    /// <param name="epoch">The epoch (0-based), which fixes the sample order.</param>
    /// <param name="communicator">The ranks sharing the epoch, or null for one process.</param>
    /// <param name="bucketer">Averages gradients across ranks while backward runs, or null to average after it.</param>
    /// <param name="progress">Called after each batch, or null.</param>
    public List<double> TrainEpoch(MnistSet data, int epoch, Communicator? communicator = null, GradientBucketer<T>? bucketer = null,
        Action<BatchProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        int ranks = communicator?.Size ?? 1;
        if (ranks > 1 && bucketer is null)
        {
            throw new ArgumentException($"{ranks} ranks need a gradient bucketer", nameof(bucketer));
        }
        Model.SetTraining(true);
        ulong shiftSeed = (ulong)Seed, dropoutSeed = SampleRandom.Mix((ulong)Seed + 1);
        var order = SampleRandom.EpochOrder(data.Count, (ulong)Seed, epoch);
        var dropouts = Dropouts(Model).ToList();
        var parameters = Optimizer.Parameters;
        int batches = BatchesPerEpoch(data.Count, BatchSize);
        var losses = new List<double>(batches);
        Tensor<T>? x = null;
        int[] keys = [];
        var labels = new int[BatchSize];
        // Data parallel: each parameter's gradient, scaled by this rank's share of the batch, goes to its bucket as soon
        // as backward has finished it (the hook), overlapping the reductions with the rest of backward.
        T weight = T.One;
        using var hooks = ranks > 1 ? new HookSet(parameters, (i, p) =>
        {
            var g = p.Grad ??= Tensor<T>.Zeros(p.Value.Shape.ToArray());
            TensorPrimitives.Multiply(g.ReadOnlySpan, weight, g.Span);
            bucketer!.MarkReady(i, g.ReadOnlySpan);
        }) : null;
        for (int bi = 0; bi < batches; bi++)
        {
            int start = bi * BatchSize, b = Math.Min(BatchSize, data.Count - start);
            var shard = communicator is null ? new Shard(0, b) : Shard.Of(b, communicator);
            weight = T.CreateChecked(shard.Weight(b));
            int step = epoch * batches + bi;
            if (communicator is not null)
            {
                communicator.Step = step;  // named by a collective that times out
            }
            double value = 0, weightedLoss = 0;
            if (shard.Count > 0)
            {
                // The input lives outside the step's scope (a scope recycles what is allocated in it).
                if (keys.Length != shard.Count)
                {
                    keys = new int[shard.Count];
                    x = Tensor<T>.Uninitialized(shard.Count, 1, data.Rows, data.Cols);
                }
                order.AsSpan(start + shard.Start, shard.Count).CopyTo(keys);
                data.FillBatch(keys, x!, labels.AsSpan(0, shard.Count), MaxShift, shiftSeed, epoch);
                foreach (var d in dropouts)
                {
                    d.KeyBySample(dropoutSeed, epoch, keys);
                }
            }
            using (TensorScope.Begin())
            {
                Optimizer.ZeroGrad();
                if (shard.Count > 0)
                {
                    var loss = Functional.CrossEntropy(Model.Forward(x!), labels.AsSpan(0, shard.Count));
                    value = loss.Item();
                    if (!double.IsFinite(value))
                    {
                        throw new InvalidOperationException($"the loss became {value} at step {step}; lower the learning rate");
                    }
                    loss.Backward();
                }
                if (ranks > 1)
                {
                    // Parameters the backward pass did not reach (none on a rank with an empty shard) contribute zeros.
                    for (int i = parameters.Count - 1; i >= 0; i--)
                    {
                        if (!bucketer!.IsReady(i))
                        {
                            hooks!.Fire(i);
                        }
                    }
                    bucketer!.Finish(i => parameters[i].Grad!.Span);
                    // This rank's part of the batch-mean loss; summed over the ranks once per epoch (below), not
                    // per step: a blocking reduction per step would be one more synchronisation of all ranks.
                    weightedLoss = value * shard.Weight(b);
                }
                Optimizer.LearningRate = Schedule.At(step);
                Optimizer.Step();
            }
            foreach (var d in dropouts)
            {
                d.KeyBySample(0, 0, null);
            }
            _step = step + 1;
            losses.Add(ranks > 1 ? weightedLoss : value);
            // With several ranks the progress shows this rank's shard loss (the batch's is known at the epoch's end).
            progress?.Invoke(new BatchProgress(bi + 1, batches, value, start + b, Optimizer.LearningRate));
        }
        if (ranks > 1)
        {
            communicator!.AllReduceSum(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(losses));
        }
        return losses;
    }

    /// <summary>One post-accumulate-grad hook per parameter, calling <c>ready(index, parameter)</c>; disposing removes them.</summary>
    private sealed class HookSet : IDisposable
    {
        private readonly IReadOnlyList<Parameter<T>> _parameters;
        private readonly Action<int, Parameter<T>> _ready;
        private readonly IDisposable[] _handles;

        public HookSet(IReadOnlyList<Parameter<T>> parameters, Action<int, Parameter<T>> ready)
        {
            _parameters = parameters;
            _ready = ready;
            _handles = new IDisposable[parameters.Count];
            for (int i = 0; i < parameters.Count; i++)
            {
                int index = i;
                _handles[i] = parameters[i].RegisterPostAccumulateGradHook(_ => _ready(index, _parameters[index]));
            }
        }

        /// <summary>Calls the hook of parameter <paramref name="index"/> directly (a parameter backward did not reach).</summary>
        public void Fire(int index) => _ready(index, _parameters[index]);

        public void Dispose()
        {
            foreach (var h in _handles)
            {
                h.Dispose();
            }
        }
    }

    private static IEnumerable<Dropout<T>> Dropouts(Module<T> module)
    {
        if (module is Dropout<T> d)
        {
            yield return d;
        }
        foreach (var (_, child) in module.NamedChildren())
        {
            foreach (var c in Dropouts(child))
            {
                yield return c;
            }
        }
    }

    /// <summary>Mean loss and accuracy on <paramref name="data"/> in evaluation mode (no augmentation).</summary>
    /// <param name="model">The model to train.</param>
    /// <param name="data">The training samples.</param>
    /// <param name="batchSize">Samples per batch.</param>
    public static (double Loss, double Accuracy) Evaluate(Module<T> model, MnistSet data, int batchSize = 500)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        model.SetTraining(false);
        double loss = 0;
        int correct = 0;
        var labels = new int[batchSize];
        Tensor<T>? x = null;
        for (int start = 0; start < data.Count; start += batchSize)
        {
            int b = Math.Min(batchSize, data.Count - start);
            if (x is null || x.Dim(0) != b)
            {
                x = Tensor<T>.Uninitialized(b, 1, data.Rows, data.Cols);
            }
            var idx = Enumerable.Range(start, b).ToArray();
            data.FillBatch(idx, x, labels.AsSpan(0, b));
            using var noGrad = GradMode.NoGrad();
            using var scope = TensorScope.Begin();
            var logits = model.Forward(x);
            loss += Functional.CrossEntropy(logits, labels.AsSpan(0, b)).Item() * b;
            var z = logits.Value.ReadOnlySpan;
            int k = logits.Value.Dim(1);
            for (int i = 0; i < b; i++)
            {
                if (ArgMax(z.Slice(i * k, k)) == labels[i])
                {
                    correct++;
                }
            }
        }
        model.SetTraining(true);
        return (loss / data.Count, (double)correct / data.Count);
    }

    /// <summary>The index of the largest element (the first on ties).</summary>
    /// <param name="row">One row of scores.</param>
    public static int ArgMax(ReadOnlySpan<T> row)
    {
        int best = 0;
        for (int j = 1; j < row.Length; j++)
        {
            if (row[j] > row[best])
            {
                best = j;
            }
        }
        return best;
    }
}
