using Spectre.Console;
using Spectre.Console.Rendering;

namespace ConvGrad.Cli;

/// <summary>
/// What <c>convgrad bench --format table</c> draws in a terminal: the header lines, the results table growing row by
/// row, and progress through the FMA peak measurement and the suite rows, all in one Spectre.Console live display on
/// stdout. Made only when stdout is a terminal (<see cref="ForTerminal"/>); piped output keeps the plain lines.
/// </summary>
internal sealed class BenchLiveView
{
    private readonly IAnsiConsole _console;
    private readonly Lock _gate = new();
    private readonly StringWriter _header = new();
    private readonly List<string[]> _rows = [];
    private (string Name, bool Right)[] _columns = [];
    private ProgressContext? _context;
    private ProgressTask? _rowsTask;
    private volatile bool _finished;

    private BenchLiveView(IAnsiConsole console) => _console = console;

    /// <summary>A live view on the console's stdout when <paramref name="stdout"/> is that stream and a terminal; otherwise null.</summary>
    public static BenchLiveView? ForTerminal(TextWriter stdout) =>
        stdout == Console.Out && !Console.IsOutputRedirected
            ? new BenchLiveView(AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) }))
            : null;

    /// <summary>Where the header lines go; they are drawn above the table.</summary>
    public TextWriter Header => _header;

    /// <summary>Runs <paramref name="body"/> under the live display; what it drew stays on the screen afterwards.</summary>
    public void Run(Action body)
    {
        _console.Progress()
            .AutoClear(false)
            .HideCompleted(true)
            .ExcludeVerticalPadding(true)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .UseRenderHook((progress, _) => Snapshot(progress))
            .Start(ctx =>
            {
                _context = ctx;
                body();
                ctx.Refresh();
            });
    }

    /// <summary>Measures the FMA peak under a spinner-like task.</summary>
    public double Peak(Func<double> measure)
    {
        var task = _context!.AddTask("measuring the fp32 FMA peak", autoStart: true, maxValue: 1);
        task.IsIndeterminate = true;
        double peak = measure();
        task.IsIndeterminate = false;
        task.Value = 1;
        task.StopTask();
        return peak;
    }

    /// <summary>Sets the table's columns (right-aligned where numeric) and starts the progress through <paramref name="measurements"/> rows.</summary>
    public void Begin((string Name, bool Right)[] columns, int measurements)
    {
        lock (_gate)
        {
            _columns = columns;
        }
        _rowsTask = _context!.AddTask("timing the suite", autoStart: true, maxValue: Math.Max(1, measurements));
    }

    /// <summary>Shows which row is being timed.</summary>
    public void Timing(string what) => _rowsTask!.Description = Markup.Escape($"timing {what}");

    /// <summary>Adds one result row and advances the progress.</summary>
    public void Row(string[] cells)
    {
        lock (_gate)
        {
            _rows.Add(cells);
        }
        _rowsTask!.Increment(1);
    }

    /// <summary>Marks the progress done (a layout may skip rows it does not cover); the display keeps only the header and the table.</summary>
    public void End()
    {
        if (_rowsTask is { } t)
        {
            t.Value = t.MaxValue;
            t.StopTask();
        }
        _finished = true;
    }

    /// <summary>A fresh renderable of the header, the table so far and the progress (the render thread must not see a table being added to).</summary>
    private IRenderable Snapshot(IRenderable progress)
    {
        lock (_gate)
        {
            var parts = new List<IRenderable>();
            string header = _header.ToString().TrimEnd();
            if (header.Length > 0)
            {
                parts.Add(new Text(header));
            }
            if (_columns.Length > 0)
            {
                var table = new Table().Border(TableBorder.Simple);
                foreach (var (name, right) in _columns)
                {
                    table.AddColumn(new TableColumn(Markup.Escape(name)) { Alignment = right ? Justify.Right : Justify.Left });
                }
                foreach (var cells in _rows)
                {
                    table.AddRow(cells.Select(c => (IRenderable)new Text(c)).ToArray());
                }
                parts.Add(table);
            }
            if (!_finished)
            {
                parts.Add(progress);
            }
            return new Rows(parts);
        }
    }
}
