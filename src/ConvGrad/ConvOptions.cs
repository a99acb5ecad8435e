namespace ConvGrad;

/// <summary>Which implementation computes a float32 pass.</summary>
public enum ConvEngine
{
    /// <summary>The literal defining sums with float64 accumulation (slow; the truth everything is checked against).</summary>
    Reference,

    /// <summary>Blocked SIMD GEMM kernels on the CPU (the default): implicit im2col, stride phases for backward-data, deterministic backward-weight.</summary>
    Fast,
}

/// <summary>Per-call settings for the convolution passes.</summary>
public sealed record ConvOptions
{
    /// <summary>The settings used when a call passes none: the default engine and all cores.</summary>
    public static ConvOptions Default { get; } = new();

    /// <summary>The implementation to use for float32 tensors (float64 tensors always use the reference).</summary>
    public ConvEngine Engine { get; init; } = ConvEngine.Fast;

    /// <summary>
    /// The most threads one pass runs on: 1024. An explicit <see cref="Threads"/> above it, or a processor count above
    /// it when <see cref="Threads"/> is 0, is clamped to it (never collapsed to one thread).
    /// </summary>
    public const int MaxThreads = 1024;

    /// <summary>
    /// Threads a pass may use; 0 (the default) means one per processor (<see cref="Environment.ProcessorCount"/>,
    /// which honours <c>DOTNET_PROCESSOR_COUNT</c>), whatever the count. Values above <see cref="MaxThreads"/> are
    /// clamped to it. The work is split statically into that many parts, so results are bitwise the same for any value.
    /// </summary>
    public int Threads
    {
        get => _threads;
        init
        {
            if (value < 0)
            {
                throw new ArgumentException($"Threads must be >= 0 (0 = one per processor); got {value}", nameof(Threads));
            }
            _threads = value;
        }
    }

    /// <summary>
    /// The widest instruction-set tier the fast engine may use (<see cref="ConvIsa.Auto"/>: the widest this machine has).
    /// A cap above what the machine supports runs on the machine's widest tier; <see cref="EffectiveIsa"/> says which.
    /// </summary>
    public ConvIsa MaxIsa
    {
        get => _maxIsa;
        init
        {
            if (!Enum.IsDefined(value))
            {
                throw new ArgumentException($"MaxIsa must be one of {string.Join(", ", Enum.GetNames<ConvIsa>())}; got {(int)value}", nameof(MaxIsa));
            }
            _maxIsa = value;
        }
    }

    /// <summary>The tier the fast engine runs on with these options: the lower of <see cref="MaxIsa"/> and the machine's widest (never <see cref="ConvIsa.Auto"/>).</summary>
    public ConvIsa EffectiveIsa => Cpu.IsaTiers.ToPublic(Cpu.IsaTiers.Resolve(_maxIsa));

    /// <summary>
    /// A backend that overrides <see cref="Engine"/> for float32 passes, the public extension point through which
    /// another package plugs a device in (ConvGrad.Gpu hands out such options as <c>GpuDevice.Options</c>); null (the
    /// default) for the built-in engines.
    /// </summary>
    public IConvBackend? Backend { get; init; }

    /// <summary>
    /// The backend float32 passes run on with these options: <see cref="Backend"/> when set, else the built-in
    /// engine named by <see cref="Engine"/> (on the <see cref="EffectiveIsa"/> tier for the fast engine).
    /// </summary>
    public IConvBackend EffectiveBackend => Backends.For(this);

    private readonly int _threads;
    private readonly ConvIsa _maxIsa;

    /// <summary>
    /// The thread count to use: <see cref="Threads"/>, or the processor count when it is 0, clamped to
    /// <see cref="MaxThreads"/>.
    /// </summary>
    public int EffectiveThreads => EffectiveThreadsFor(Environment.ProcessorCount);

    /// <summary>The thread count these options give on a machine with <paramref name="processorCount"/> logical processors.</summary>
    internal int EffectiveThreadsFor(int processorCount) =>
        Math.Clamp(_threads == 0 ? processorCount : _threads, 1, MaxThreads);
}
