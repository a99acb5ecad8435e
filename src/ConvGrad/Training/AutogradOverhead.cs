using System.Diagnostics;
using System.Numerics;
using ConvGrad.Autograd;
using ConvGrad.Data;
using ConvGrad.Nn;

namespace ConvGrad.Training;

/// <summary>
/// What the autograd itself costs in one training step of a model on a fixed batch, against the step's kernels:
/// <list type="bullet">
/// <item><description><b>recording</b>: the forward pass that records the graph minus the same forward under
/// <see cref="GradMode.NoGrad"/> (node objects, saved tensors kept alive instead of recycled);</description></item>
/// <item><description><b>bookkeeping</b>: the backward passes' walk, dispatch, gradient sums and releases
/// (<see cref="TapeStatistics"/>: the pass minus the time inside the nodes' rules).</description></item>
/// </list>
/// Each figure is the best of several repeats (the fastest repeat is the one least disturbed by other load), so
/// the share is meaningful on a quiet machine and an upper bound of the noise on a loaded one.
/// </summary>
/// <param name="ForwardSeconds">Best forward + loss without recording (<see cref="GradMode.NoGrad"/>).</param>
/// <param name="RecordingForwardSeconds">Best forward + loss recording the graph.</param>
/// <param name="StepSeconds">Best forward + loss + backward (the optimiser's update is not included).</param>
/// <param name="BookkeepingSeconds">Mean backward bookkeeping per step.</param>
/// <param name="Nodes">Nodes per backward pass.</param>
public readonly record struct AutogradOverhead(double ForwardSeconds, double RecordingForwardSeconds, double StepSeconds,
    double BookkeepingSeconds, long Nodes)
{
    /// <summary>Recording's cost: the recording forward minus the plain forward (0 when noise makes it negative).</summary>
    public double RecordingSeconds => Math.Max(0, RecordingForwardSeconds - ForwardSeconds);

    /// <summary>The autograd's share of a step: (recording + bookkeeping) ÷ step.</summary>
    public double Share => (RecordingSeconds + BookkeepingSeconds) / StepSeconds;

    /// <summary>
    /// <see cref="Measure{T}"/> on the first <paramref name="batch"/> training images of <paramref name="data"/> (all of
    /// them when there are fewer), normalised as a run normalises them, without augmentation.
    /// </summary>
    /// <param name="model">The model to time.</param>
    /// <param name="data">The run's data.</param>
    /// <param name="batch">The batch size.</param>
    /// <param name="repeats">Timed repeats of each measured step; the best is kept.</param>
    /// <returns>The step's timings.</returns>
    /// <exception cref="ArgumentException"><paramref name="batch"/> or <paramref name="repeats"/> is not positive.</exception>
    public static AutogradOverhead Measure(Module<float> model, TrainingData data, int batch, int repeats)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        batch = Math.Min(batch, data.Train.Count);
        using var loader = new DataLoader(new DatasetSlice(data.Train, 0, batch), batch, data.Normalization, prefetch: false);
        var first = loader.Epoch(0).First();
        return Measure(model, first.Images!, first.LabelArray, repeats);
    }

    /// <summary>
    /// Measures <paramref name="model"/> (in training mode: batch norm and dropout as in training) on the batch
    /// <paramref name="x"/>, <paramref name="labels"/>, <paramref name="repeats"/> times each, interleaved. Leaves
    /// parameter gradients and batch-norm running statistics changed, as training steps would.
    /// </summary>
    /// <typeparam name="T">The model's element type.</typeparam>
    /// <param name="model">The model to time.</param>
    /// <param name="x">The input batch, NCHW.</param>
    /// <param name="labels">The class of each image in <paramref name="x"/>.</param>
    /// <param name="repeats">Timed repeats of each measured step; the best is kept.</param>
    /// <returns>The step's timings.</returns>
    /// <exception cref="ArgumentException"><paramref name="repeats"/> is not positive.</exception>
    public static AutogradOverhead Measure<T>(Module<T> model, Tensor<T> x, int[] labels, int repeats)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(labels);
        if (repeats < 1)
        {
            throw new ArgumentException($"repeats must be >= 1; got {repeats}", nameof(repeats));
        }
        model.SetTraining(true);
        double forward = double.MaxValue, recording = double.MaxValue, step = double.MaxValue;
        long passes0 = TapeStatistics.Passes, nodes0 = TapeStatistics.Nodes;
        double book0 = TapeStatistics.BookkeepingSeconds;
        Step(record: true, backward: true); // warm-up: JIT, pools, plans
        passes0 = TapeStatistics.Passes;
        nodes0 = TapeStatistics.Nodes;
        book0 = TapeStatistics.BookkeepingSeconds;
        for (int r = 0; r < repeats; r++)
        {
            forward = Math.Min(forward, Step(record: false, backward: false));
            recording = Math.Min(recording, Step(record: true, backward: false));
            step = Math.Min(step, Step(record: true, backward: true));
        }
        long passes = Math.Max(1, TapeStatistics.Passes - passes0);
        return new AutogradOverhead(forward, recording, step, (TapeStatistics.BookkeepingSeconds - book0) / passes,
            (TapeStatistics.Nodes - nodes0) / passes);

        double Step(bool record, bool backward)
        {
            long start = Stopwatch.GetTimestamp();
            using (TensorScope.Begin())
            {
                model.ZeroGrad();
                using var noGrad = record ? null : GradMode.NoGrad();
                var loss = Functional.CrossEntropy(model.Forward(x), labels);
                if (backward)
                {
                    loss.Backward();
                }
            }
            return Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
    }
}
