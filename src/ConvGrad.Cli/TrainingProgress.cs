using System.Diagnostics;
using System.Globalization;
using ConvGrad.Training;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace ConvGrad.Cli;

/// <summary>
/// The live bar of <c>convgrad train</c>: one Spectre.Console progress bar per epoch on stderr (batches, smoothed loss,
/// images/s, time left), cleared when the epoch ends so that only the epoch's plain line stays. Made only when stderr
/// is a terminal (<see cref="ForTerminal"/>); piped or redirected output never sees it.
/// </summary>
internal sealed class TrainingProgress
{
    private readonly IAnsiConsole _console;

    private TrainingProgress(IAnsiConsole console) => _console = console;

    /// <summary>A progress display on the console's stderr when <paramref name="stderr"/> is that stream and a terminal; otherwise null.</summary>
    public static TrainingProgress? ForTerminal(TextWriter stderr) =>
        stderr == Console.Error && !Console.IsErrorRedirected
            ? new TrainingProgress(AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }))
            : null;

    /// <summary>Runs one epoch's training under a live bar; <paramref name="train"/> gets the callback that advances it.</summary>
    public T Epoch<T>(int epoch, int epochs, Func<Action<BatchProgress>, T> train)
    {
        return _console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new BatchStatsColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask($"epoch {epoch}/{epochs}", autoStart: true, maxValue: 1);
                var clock = Stopwatch.StartNew();
                double smoothed = double.NaN;
                return train(p =>
                {
                    smoothed = double.IsNaN(smoothed) ? p.Loss : 0.9 * smoothed + 0.1 * p.Loss;
                    double loss = smoothed, rate = p.Images / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
                    task.State.Update<double>(BatchStatsColumn.Loss, _ => loss);
                    task.State.Update<double>(BatchStatsColumn.Rate, _ => rate);
                    task.MaxValue = p.Batches;
                    task.Value = p.Batch;
                });
            });
    }

    /// <summary>Batches done of all, the smoothed loss and the images per second of the epoch so far.</summary>
    private sealed class BatchStatsColumn : ProgressColumn
    {
        public const string Loss = "loss", Rate = "rate";

        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime)
        {
            double loss = task.State.Get<double>(Loss), rate = task.State.Get<double>(Rate);
            return new Text(string.Create(CultureInfo.InvariantCulture,
                $"{task.Value,5:0}/{task.MaxValue:0} batches  loss {(task.Value > 0 ? loss.ToString("F4", CultureInfo.InvariantCulture) : "-")}  {rate,6:0} images/s"));
        }
    }
}
