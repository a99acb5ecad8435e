using ConvGrad.Distributed;

namespace ConvGrad.MpiDriver;

/// <summary>
/// Runs one check of the communicator layer on every rank of an <c>mpirun</c> job and prints its verdict on rank 0.
/// Exit codes: 0 the check passed, 1 it failed, 2 bad usage or MPI unavailable (one line on stderr).
/// </summary>
public static class Program
{
    /// <summary>Runs the mode named by the first argument.</summary>
    public static int Main(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine("usage: ConvGrad.MpiDriver collectives|bucketer|kill|fail|bench|train [options]");
            return 2;
        }
        Communicator comm;
        try
        {
            // Under mpirun: MPI; started alone: one process (the reference the multi-rank runs are compared with).
            comm = Communicator.Create(distributed: MpiLaunch.FromEnvironment() is not null);
        }
        catch (MpiUnavailableException e)
        {
            Console.Error.WriteLine($"mpi-driver: {e.Message}");
            return 2;
        }
        using (comm)
        {
            try
            {
                var options = new Options(args.Skip(1));
                bool ok = args[0] switch
                {
                    "collectives" => Collectives.Run(comm),
                    "bucketer" => BucketerRun.Run(comm, options),
                    "kill" => Faults.Kill(comm),
                    "fail" => Faults.Fail(comm),
                    "bench" => Bench.Run(comm, options),
                    "train" => ToyTraining.Run(comm, options),
                    _ => throw new ArgumentException($"unknown mode '{args[0]}'"),
                };
                comm.Barrier();
                return ok ? 0 : 1;
            }
            catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException)
            {
                // One rank that cannot go on ends the whole job, with its reason.
                Console.Error.WriteLine($"rank {comm.Rank}: {e.Message}");
                Console.Error.Flush();
                comm.Abort(3);
                return 3;
            }
        }
    }
}

/// <summary>Options of the form <c>--name value</c>.</summary>
internal sealed class Options
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public Options(IEnumerable<string> args)
    {
        var list = args.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            if (!list[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= list.Count)
            {
                throw new ArgumentException($"expected --name value; got '{list[i]}'");
            }
            _values[list[i][2..]] = list[++i];
        }
    }

    public long Long(string name, long fallback) =>
        _values.TryGetValue(name, out var s) ? long.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : fallback;

    public string? String(string name) => _values.GetValueOrDefault(name);
}
