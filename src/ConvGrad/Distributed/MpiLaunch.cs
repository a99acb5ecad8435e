using System.Globalization;

namespace ConvGrad.Distributed;

/// <summary>
/// Where this process sits in a job started by Open MPI's <c>mpirun</c>, read from the variables it sets for every
/// rank: <c>OMPI_COMM_WORLD_RANK</c>, <c>OMPI_COMM_WORLD_SIZE</c>, <c>OMPI_COMM_WORLD_LOCAL_RANK</c> and
/// <c>OMPI_COMM_WORLD_LOCAL_SIZE</c>.
/// </summary>
/// <param name="Rank">This process's rank in the job, 0 to <paramref name="Size"/> − 1.</param>
/// <param name="Size">The number of ranks in the job.</param>
/// <param name="LocalRank">This process's rank among the ranks on its machine (picks its GPU).</param>
/// <param name="LocalSize">The number of ranks on this machine (divides its cores).</param>
public sealed record MpiLaunch(int Rank, int Size, int LocalRank, int LocalSize)
{
    /// <summary>
    /// The launch described by the environment, or null when the process was not started by <c>mpirun</c>
    /// (<c>OMPI_COMM_WORLD_SIZE</c> unset).
    /// </summary>
    /// <exception cref="MpiUnavailableException">The variables are set but inconsistent.</exception>
    public static MpiLaunch? FromEnvironment() => From(Environment.GetEnvironmentVariable);

    /// <summary>The launch described by <paramref name="variable"/> (a lookup of environment variables).</summary>
    /// <exception cref="MpiUnavailableException">The variables are set but inconsistent.</exception>
    /// <param name="variable">Reads an environment variable (null when unset).</param>
    public static MpiLaunch? From(Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(variable);
        if (string.IsNullOrEmpty(variable("OMPI_COMM_WORLD_SIZE")))
        {
            return null;
        }
        int Read(string name, int fallback)
        {
            string? s = variable(name);
            if (string.IsNullOrEmpty(s))
            {
                return fallback;
            }
            if (!int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v))
            {
                throw new MpiUnavailableException($"{name}={s} is not a count; the mpirun environment is broken");
            }
            return v;
        }
        int size = Read("OMPI_COMM_WORLD_SIZE", 1);
        int rank = Read("OMPI_COMM_WORLD_RANK", 0);
        int localSize = Read("OMPI_COMM_WORLD_LOCAL_SIZE", 1);
        int localRank = Read("OMPI_COMM_WORLD_LOCAL_RANK", 0);
        if (size < 1 || rank >= size || localSize < 1 || localSize > size || localRank >= localSize)
        {
            throw new MpiUnavailableException(
                $"inconsistent mpirun environment: rank {rank} of {size}, local rank {localRank} of {localSize}");
        }
        return new MpiLaunch(rank, size, localRank, localSize);
    }

    /// <summary>
    /// Threads per rank that share this machine's cores evenly: <c>max(1, cores ÷ LocalSize)</c>.
    /// </summary>
    /// <param name="cores">The cores of this node.</param>
    public int ThreadsPerRank(int cores) => Math.Max(1, cores / LocalSize);
}
