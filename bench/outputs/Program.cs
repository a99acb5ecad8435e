// Returning overload against write-into overload of Conv.Forward on [8,64,56,56] x [64,64,3,3] (pad 1): time per call,
// gen-2 collections per run, CPU/wall, and the process's thread count (workers started). Prints a markdown table.
// Usage: dotnet run -c Release --project bench/outputs -- [calls = 100] [threads = 0 (one per processor)]
// Run it with DOTNET_PROCESSOR_COUNT=96 to see a 96-part split. Timings on a shared machine are noisy: compare
// rows of one run, and look at CPU/wall to see how much of the machine the run actually had.
using System.Diagnostics;
using System.Globalization;
using ConvGrad;

int calls = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100;
int threads = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 0;
var rng = new Random(1);
var x = Random(8, 64, 56, 56);
var w = Random(64, 64, 3, 3);
var g = ConvGeometry.Uniform(2, padding: 1);
var o = new ConvOptions { Threads = threads };
var y = Tensor<float>.Uninitialized(8, 64, 56, 56);
Console.WriteLine($"processors {Environment.ProcessorCount}, threads {o.EffectiveThreads}, {calls} calls per row");
for (int i = 0; i < 5; i++)
{
    Conv.Forward(x, w, null, g, y, o);
    Conv.Forward(x, w, null, g, o).Dispose();
}
Console.WriteLine($"| overload | ms/call | gen-2 per {calls} calls | CPU/wall |");
Console.WriteLine("|---|---|---|---|");
for (int rep = 0; rep < 3; rep++)
{
    Row("write-into", () => Conv.Forward(x, w, null, g, y, o));
    Row("returning, disposed", () => Conv.Forward(x, w, null, g, o).Dispose());
    Row("returning, not disposed", () => Conv.Forward(x, w, null, g, o));
}
Console.WriteLine($"process threads: {Process.GetCurrentProcess().Threads.Count}");

void Row(string name, Action call)
{
    GC.Collect();
    GC.WaitForPendingFinalizers();
    GC.Collect();
    int gen2 = GC.CollectionCount(2);
    var process = Process.GetCurrentProcess();
    var cpu = process.TotalProcessorTime;
    var clock = Stopwatch.StartNew();
    for (int i = 0; i < calls; i++)
    {
        call();
    }
    clock.Stop();
    process.Refresh();
    double wall = clock.Elapsed.TotalMilliseconds;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {name} | {wall / calls:F1} | {GC.CollectionCount(2) - gen2} | {(process.TotalProcessorTime - cpu).TotalMilliseconds / wall:F2} |"));
}

Tensor<float> Random(params int[] shape)
{
    var t = Tensor<float>.Uninitialized(shape);
    var s = t.Span;
    for (int i = 0; i < s.Length; i++)
    {
        s[i] = (float)(rng.NextDouble() * 2 - 1);
    }
    return t;
}
