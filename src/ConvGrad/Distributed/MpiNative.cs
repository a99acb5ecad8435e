using System.Runtime.InteropServices;
using System.Text;

namespace ConvGrad.Distributed;

/// <summary>
/// Open MPI's C API, bound at run time: <c>libmpi.so.40</c> is loaded on first use with
/// <see cref="NativeLibrary"/>, functions become unmanaged function pointers, and MPI's handles
/// (<c>MPI_COMM_WORLD</c>, <c>MPI_FLOAT</c>, <c>MPI_SUM</c>, ...) are the addresses of the exported globals
/// <c>ompi_mpi_comm_world</c>, <c>ompi_mpi_float</c>, <c>ompi_mpi_op_sum</c>, ..., exactly what Open MPI's
/// <c>mpi.h</c> macros expand to.
/// </summary>
internal sealed unsafe class MpiNative
{
    /// <summary>The library Open MPI 4.x and 5.x install (Debian: package openmpi-bin / libopenmpi3).</summary>
    public const string DefaultLibrary = "libmpi.so.40";

    /// <summary>Environment variable that names another library file (tests point it at a missing one).</summary>
    public const string LibraryVariable = "CONVGRAD_MPI_LIBRARY";

    public const int Success = 0;
    public const int ThreadFunneled = 1;
    private const int MaxErrorString = 256;
    private const int MaxLibraryVersionString = 256;

    /// <summary>MPI_IN_PLACE: <c>(void*)1</c> in Open MPI.</summary>
    public static readonly void* InPlace = (void*)1;

    public readonly string LibraryName;
    public readonly nint CommWorld, Float, Double, Int32, Int64, Byte, OpSum, OpMin, OpMax, ErrorsReturn;

    public readonly delegate* unmanaged<int*, int> Initialized;
    public readonly delegate* unmanaged<int*, int> Finalized;
    public readonly delegate* unmanaged<int*, byte***, int, int*, int> InitThread;
    public readonly delegate* unmanaged<int> Finalize;
    public readonly delegate* unmanaged<nint, int*, int> CommRank;
    public readonly delegate* unmanaged<nint, int*, int> CommSize;
    public readonly delegate* unmanaged<nint, nint, int> CommSetErrhandler;
    public readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, int> Allreduce;
    public readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, nint*, int> Iallreduce;
    public readonly delegate* unmanaged<nint*, void*, int> Wait;
    public readonly delegate* unmanaged<nint*, int*, void*, int> Test;
    public readonly delegate* unmanaged<nint, int> Barrier;
    public readonly delegate* unmanaged<nint, nint*, int> Ibarrier;
    public readonly delegate* unmanaged<void*, int, nint, int, nint, nint*, int> Ibcast;
    public readonly delegate* unmanaged<void*, int, nint, int, nint, int> Bcast;
    public readonly delegate* unmanaged<nint, int, int> Abort;
    private readonly delegate* unmanaged<int, byte*, int*, int> _errorString;
    private readonly delegate* unmanaged<byte*, int*, int> _libraryVersion;
    private readonly delegate* unmanaged<int*, int*, int> _version;

    private static MpiNative? s_loaded;
    private static readonly Lock s_lock = new();

    /// <summary>
    /// The bound library: <paramref name="library"/>, else <c>$CONVGRAD_MPI_LIBRARY</c>, else <c>libmpi.so.40</c>.
    /// The first successful load is kept for the life of the process.
    /// </summary>
    /// <exception cref="MpiUnavailableException">The library is missing or is not a usable Open MPI.</exception>
    public static MpiNative Load(string? library = null)
    {
        library ??= Environment.GetEnvironmentVariable(LibraryVariable) is { Length: > 0 } v ? v : DefaultLibrary;
        lock (s_lock)
        {
            if (s_loaded is not null && s_loaded.LibraryName == library)
            {
                return s_loaded;
            }
            return s_loaded = new MpiNative(library);
        }
    }

    private MpiNative(string library)
    {
        LibraryName = library;
        if (!OperatingSystem.IsLinux())
        {
            throw new MpiUnavailableException($"Open MPI ({library}) is supported on Linux only; this is {RuntimeInformation.OSDescription}");
        }
        // Open MPI loads its components (network transports, collectives) as plugins that resolve libmpi's symbols
        // from the global namespace, so the library must be opened RTLD_GLOBAL; NativeLibrary opens RTLD_LOCAL.
        nint handle = LinuxDynamicLoader.OpenGlobal(library, out string? loadError);
        if (handle == 0)
        {
            throw new MpiUnavailableException(
                $"Open MPI ({library}) not found: apt-get install openmpi-bin libopenmpi-dev ({loadError ?? "no details"})");
        }
        nint Export(string name)
        {
            if (!NativeLibrary.TryGetExport(handle, name, out nint address))
            {
                throw new MpiUnavailableException(
                    $"{library} is not a compatible Open MPI (it lacks '{name}'); ConvGrad needs Open MPI 4.x: apt-get install openmpi-bin libopenmpi-dev");
            }
            return address;
        }
        CommWorld = Export("ompi_mpi_comm_world");
        Float = Export("ompi_mpi_float");
        Double = Export("ompi_mpi_double");
        Int32 = Export("ompi_mpi_int");
        Int64 = Export("ompi_mpi_int64_t");
        Byte = Export("ompi_mpi_byte");
        OpSum = Export("ompi_mpi_op_sum");
        OpMin = Export("ompi_mpi_op_min");
        OpMax = Export("ompi_mpi_op_max");
        ErrorsReturn = Export("ompi_mpi_errors_return");
        Initialized = (delegate* unmanaged<int*, int>)Export("MPI_Initialized");
        Finalized = (delegate* unmanaged<int*, int>)Export("MPI_Finalized");
        InitThread = (delegate* unmanaged<int*, byte***, int, int*, int>)Export("MPI_Init_thread");
        Finalize = (delegate* unmanaged<int>)Export("MPI_Finalize");
        CommRank = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_rank");
        CommSize = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_size");
        CommSetErrhandler = (delegate* unmanaged<nint, nint, int>)Export("MPI_Comm_set_errhandler");
        Allreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, int>)Export("MPI_Allreduce");
        Iallreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, nint*, int>)Export("MPI_Iallreduce");
        Wait = (delegate* unmanaged<nint*, void*, int>)Export("MPI_Wait");
        Test = (delegate* unmanaged<nint*, int*, void*, int>)Export("MPI_Test");
        Barrier = (delegate* unmanaged<nint, int>)Export("MPI_Barrier");
        Bcast = (delegate* unmanaged<void*, int, nint, int, nint, int>)Export("MPI_Bcast");
        Ibarrier = (delegate* unmanaged<nint, nint*, int>)Export("MPI_Ibarrier");
        Ibcast = (delegate* unmanaged<void*, int, nint, int, nint, nint*, int>)Export("MPI_Ibcast");
        Abort = (delegate* unmanaged<nint, int, int>)Export("MPI_Abort");
        _errorString = (delegate* unmanaged<int, byte*, int*, int>)Export("MPI_Error_string");
        _libraryVersion = (delegate* unmanaged<byte*, int*, int>)Export("MPI_Get_library_version");
        _version = (delegate* unmanaged<int*, int*, int>)Export("MPI_Get_version");

        int major, minor;
        _version(&major, &minor);
        LibraryVersion = ReadString(_libraryVersion, MaxLibraryVersionString);
        if (major < 3)
        {
            throw new MpiUnavailableException(
                $"{library} implements MPI {major}.{minor}; non-blocking all-reduce needs MPI 3 (Open MPI 4.x): apt-get install openmpi-bin libopenmpi-dev");
        }
    }

    /// <summary>The first line of <c>MPI_Get_library_version</c>, e.g. <c>Open MPI v4.1.4, ...</c>.</summary>
    public string LibraryVersion { get; }

    /// <summary>Throws <see cref="MpiException"/> with Open MPI's error text when <paramref name="code"/> is not MPI_SUCCESS.</summary>
    public void Check(int code, string call)
    {
        if (code != Success)
        {
            string text;
            byte* buffer = stackalloc byte[MaxErrorString + 1];
            int length = 0;
            text = _errorString(code, buffer, &length) == Success
                ? Encoding.ASCII.GetString(buffer, Math.Clamp(length, 0, MaxErrorString))
                : "unknown error";
            throw new MpiException(call, code, text);
        }
    }

    /// <summary>The MPI datatype handle of <typeparamref name="T"/> (float, double, int, long).</summary>
    public nint Datatype<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? Float
        : typeof(T) == typeof(double) ? Double
        : typeof(T) == typeof(int) ? Int32
        : typeof(T) == typeof(long) ? Int64
        : throw new ArgumentException($"MPI reductions take float, double, int or long; got {typeof(T).Name}", nameof(T));

    /// <summary>The MPI operation handle of <paramref name="op"/>.</summary>
    public nint Operation(ReduceOperation op) => op switch
    {
        ReduceOperation.Sum => OpSum,
        ReduceOperation.Min => OpMin,
        ReduceOperation.Max => OpMax,
        _ => throw new ArgumentException($"unknown reduce operation {op}", nameof(op)),
    };

    private static string ReadString(delegate* unmanaged<byte*, int*, int> get, int max)
    {
        byte* buffer = stackalloc byte[max + 1];
        int length = 0;
        if (get(buffer, &length) != Success)
        {
            return "unknown";
        }
        string s = Encoding.ASCII.GetString(buffer, Math.Clamp(length, 0, max)).Trim('\0', ' ', '\n');
        int newline = s.IndexOfAny(['\n', ',']);
        return newline < 0 ? s : s[..newline];
    }
}
