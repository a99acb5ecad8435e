using System.Diagnostics;
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
/// step, as a PyTorch loop) over the batches of a <see cref="DataLoader"/>, with the learning rate of every step set
/// from a schedule. Everything is keyed or statically split, so a seed and thread count fix the whole loss curve.
/// </summary>
public sealed class ClassifierTrainer
{
    /// <summary>Creates the trainer.</summary>
    /// <param name="model">The model to train.</param>
    /// <param name="optimizer">The optimizer over the model's parameters.</param>
    /// <param name="schedule">The learning rate per step.</param>
    /// <param name="seed">The run seed (dropout masks; the loader's seed fixes order and augmentation).</param>
    public ClassifierTrainer(Module<float> model, Optimizer<float> optimizer, ILearningRateSchedule schedule, int seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(schedule);
        Model = model;
        Optimizer = optimizer;
        Schedule = schedule;
        Seed = seed;
    }

    /// <summary>The seed of the dropout masks.</summary>
    public int Seed { get; }

    /// <summary>The model being trained.</summary>
    public Module<float> Model { get; }

    /// <summary>The optimiser.</summary>
    public Optimizer<float> Optimizer { get; }

    /// <summary>The learning-rate schedule (indexed by the global step).</summary>
    public ILearningRateSchedule Schedule { get; }

    /// <summary>
    /// Whether a non-finite loss, gradient or updated weight stops training with <see cref="DivergenceException"/>
    /// (default true). Off, training goes on with NaN or ±∞, as a plain PyTorch loop does.
    /// </summary>
    public bool DivergenceGuard { get; set; } = true;

    /// <summary>
    /// Whether each step runs in <see cref="AnomalyMode"/> (default false): a divergence then also names the first
    /// operation, forward or backward, whose result went non-finite. Costs a check of every output and gradient.
    /// </summary>
    public bool DetectAnomaly { get; set; }

    /// <summary>
    /// Where the steps' time goes per operation kind, collected by every <see cref="TrainEpoch"/> while set (default
    /// null: nothing is timed). Profiling does not change any result.
    /// </summary>
    public StepProfile? Profile { get; set; }

    /// <summary>
    /// Epoch <paramref name="epoch"/> (0-based) of <paramref name="loader"/>'s batches. Randomness depends on nothing but
    /// the seeds, the epoch and the sample: the loader's order and transforms, each sample's dropout mask keyed by its
    /// index in the dataset (<see cref="SampleRandom"/> of <c>mix(seed + 1)</c>), and the schedule's step
    /// <c>epoch · batches + batch</c>. A resumed run therefore continues bitwise as an uninterrupted one would.
    /// <para>
    /// Data parallel: with a loader sharded over R ranks (<see cref="DataLoader.Communicator"/>), each rank runs forward
    /// and backward on its shard, scales its gradients by its shard's share of the batch, and
    /// <paramref name="bucketer"/> (built with <see cref="GradientReduction.Sum"/>) sums them over the ranks — the
    /// batch-mean gradient — before the same optimiser step on every rank. Each gradient goes to the bucketer from a
    /// post-accumulate-grad hook (<see cref="Variable{T}.RegisterPostAccumulateGradHook"/>) the moment the backward pass
    /// has finished it, so a bucket's all-reduce starts while the earlier layers' backward still runs.
    /// </para>
    /// </summary>
    /// <returns>The loss of every global batch (the same on every rank).</returns>
    /// <param name="loader">The training batches (shuffled, augmented, sharded as the loader says).</param>
    /// <param name="epoch">The epoch (0-based), which keys the order and the randomness.</param>
    /// <param name="bucketer">Sums gradients across the loader's ranks while backward runs; required with several ranks.</param>
    /// <param name="progress">Called after each batch, or null.</param>
    public List<double> TrainEpoch(DataLoader loader, int epoch, GradientBucketer<float>? bucketer = null, Action<BatchProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(loader);
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        var communicator = loader.Communicator;
        int ranks = communicator?.Size ?? 1;
        if (ranks > 1 && bucketer is null)
        {
            throw new ArgumentException($"{ranks} ranks need a gradient bucketer", nameof(bucketer));
        }
        Model.SetTraining(true);
        ulong dropoutSeed = SampleRandom.Mix((ulong)Seed + 1);
        var dropouts = Dropouts(Model).ToList();
        var parameters = Optimizer.Parameters;
        int batches = loader.BatchesPerEpoch;
        var losses = new List<double>(batches);
        // Data parallel: each parameter's gradient, scaled by this rank's share of the batch, goes to its bucket as soon
        // as backward has finished it (the hook), overlapping the reductions with the rest of backward.
        float weight = 1;
        var names = DivergenceGuard ? Model.NamedParameters().ToDictionary(p => (object)p.Parameter, p => p.Name, ReferenceEqualityComparer.Instance) : null;
        using var hooks = ranks > 1 ? new HookSet(parameters, (i, p) =>
        {
            var g = p.Grad ??= Tensor<float>.Zeros(p.Value.Shape.ToArray());
            TensorPrimitives.Multiply(g.ReadOnlySpan, weight, g.Span);
            bucketer!.MarkReady(i, g.ReadOnlySpan);
        }) : null;
        var profile = Profile;
        using var profiling = profile is null ? null : OpProfiler.Begin(profile);
        using var epochBatches = loader.Epoch(epoch).GetEnumerator();
        while (true)
        {
            long loopStart = profile is null ? 0 : Stopwatch.GetTimestamp();
            bool more;
            using (OpProfiler.Time(ProfiledOp.DataLoading))
            {
                more = epochBatches.MoveNext();
            }
            if (!more)
            {
                profile?.AddLoop(loopStart, step: false);
                break;
            }
            var batch = epochBatches.Current;
            int bi = batch.Index, b = batch.GlobalCount;
            weight = (float)batch.Shard.Weight(b);
            int step = epoch * batches + bi;
            if (communicator is not null)
            {
                communicator.Step = step;  // named by a collective that times out
            }
            double value = 0, weightedLoss = 0;
            if (batch.Count > 0)
            {
                foreach (var d in dropouts)
                {
                    d.KeyBySample(dropoutSeed, epoch, batch.IndexArray);
                }
            }
            using (TensorScope.Begin())
            {
                using (OpProfiler.Time(ProfiledOp.ZeroGrad))
                {
                    Optimizer.ZeroGrad();
                }
                if (batch.Count > 0)
                {
                    using var anomaly = DetectAnomaly ? AnomalyMode.Enable() : null;
                    try
                    {
                        var loss = Functional.CrossEntropy(Model.Forward(batch.Images!), batch.Labels);
                        value = loss.Item();
                        if (DivergenceGuard && !double.IsFinite(value))
                        {
                            throw new DivergenceException(epoch + 1, step, "the loss", Text(value));
                        }
                        loss.Backward();
                    }
                    catch (NonFiniteValueException e) when (DivergenceGuard)
                    {
                        throw new DivergenceException(epoch + 1, step, $"the {e.Pass} result of {e.Operation}", e.Value, e.Message);
                    }
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
                    weightedLoss = value * batch.Shard.Weight(b);
                }
                if (names is not null)
                {
                    // After the all-reduce: every rank sees the same gradients, so every rank stops at the same step.
                    using var guard = OpProfiler.Time(ProfiledOp.DivergenceGuard);
                    CheckFinite(parameters, p => p.Grad, "the gradient of", names, epoch, step);
                }
                Optimizer.LearningRate = Schedule.At(step);
                using (OpProfiler.Time(ProfiledOp.OptimizerStep))
                {
                    Optimizer.Step();
                }
                if (names is not null)
                {
                    // Finite gradients can still step to ±∞ (a huge rate); stop before such weights reach a file.
                    using var guard = OpProfiler.Time(ProfiledOp.DivergenceGuard);
                    CheckFinite(parameters, p => p.Value, "after the optimiser step, the weight", names, epoch, step);
                }
            }
            foreach (var d in dropouts)
            {
                d.KeyBySample(0, 0, null);
            }
            losses.Add(ranks > 1 ? weightedLoss : value);
            // With several ranks the progress shows this rank's shard loss (the batch's is known at the epoch's end).
            progress?.Invoke(new BatchProgress(bi + 1, batches, value, batch.Start + b, Optimizer.LearningRate));
            profile?.AddLoop(loopStart, step: true);
        }
        if (ranks > 1)
        {
            communicator!.AllReduceSum(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(losses));
        }
        return losses;
    }

    private static void CheckFinite(IReadOnlyList<Parameter<float>> parameters, Func<Parameter<float>, Tensor<float>?> values, string what,
        Dictionary<object, string> names, int epoch, int step)
    {
        foreach (var p in parameters)
        {
            if (values(p) is { } t && !AnomalyMode.AllFinite(t.ReadOnlySpan))
            {
                var span = t.ReadOnlySpan;
                int i = 0;
                while (float.IsFinite(span[i]))
                {
                    i++;
                }
                throw new DivergenceException(epoch + 1, step, $"{what} {names.GetValueOrDefault(p, "?")}", Text(span[i]));
            }
        }
    }

    private static string Text(double v) => double.IsNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";

    /// <summary>Correct predictions, images and summed loss of <paramref name="model"/> over <paramref name="loader"/>'s batches, in evaluation mode without recording.</summary>
    /// <param name="model">The model.</param>
    /// <param name="loader">The images (in order, without transforms, as a loader for evaluation is made).</param>
    public static EvaluationCounts Evaluate(Module<float> model, DataLoader loader)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(loader);
        model.SetTraining(false);
        double loss = 0;
        long correct = 0, total = 0;
        foreach (var batch in loader.Epoch(0))
        {
            if (batch.Count == 0)
            {
                continue;
            }
            using var noGrad = GradMode.NoGrad();
            using var scope = TensorScope.Begin();
            var logits = model.Forward(batch.Images!);
            loss += Functional.CrossEntropy(logits, batch.Labels).Item() * batch.Count;
            var z = logits.Value.ReadOnlySpan;
            int k = logits.Value.Dim(1);
            for (int i = 0; i < batch.Count; i++)
            {
                if (ArgMax(z.Slice(i * k, k)) == batch.Labels[i])
                {
                    correct++;
                }
            }
            total += batch.Count;
        }
        model.SetTraining(true);
        return new EvaluationCounts(correct, total, loss);
    }

    /// <summary>The index of the largest element (the first on ties).</summary>
    /// <param name="row">One row of scores.</param>
    public static int ArgMax(ReadOnlySpan<float> row)
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

    /// <summary>One post-accumulate-grad hook per parameter, calling <c>ready(index, parameter)</c>; disposing removes them.</summary>
    private sealed class HookSet : IDisposable
    {
        private readonly IReadOnlyList<Parameter<float>> _parameters;
        private readonly Action<int, Parameter<float>> _ready;
        private readonly IDisposable[] _handles;

        public HookSet(IReadOnlyList<Parameter<float>> parameters, Action<int, Parameter<float>> ready)
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

    private static IEnumerable<Dropout<float>> Dropouts(Module<float> module)
    {
        if (module is Dropout<float> d)
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
}
