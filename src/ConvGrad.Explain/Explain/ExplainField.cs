namespace ConvGrad.Explain;

/// <summary>
/// The fields of an explain request: one name for the explorer's form and URL query (<see cref="ExplainFields.Key"/>,
/// which the CLI spells as an option, <c>--key</c>) and one label as the form shows it (<see cref="ExplainFields.Label"/>),
/// so that every message names a field the way its reader sees it.
/// </summary>
internal enum ExplainField
{
    /// <summary>The spatial input size.</summary>
    Input,
    /// <summary>The spatial kernel size.</summary>
    Kernel,
    /// <summary>The stride per axis.</summary>
    Stride,
    /// <summary>The padding (befores then afters).</summary>
    Padding,
    /// <summary>The dilation per axis.</summary>
    Dilation,
    /// <summary>Input channels C.</summary>
    Channels,
    /// <summary>Output channels K.</summary>
    OutChannels,
    /// <summary>Batch size N.</summary>
    Batch,
    /// <summary>Groups G.</summary>
    Groups,
    /// <summary>The seed of the verification's values.</summary>
    Seed,
    /// <summary>The index base: 1 (the classic derivation's) or 0 (PyTorch's).</summary>
    Base,
}

/// <summary>How each <see cref="ExplainField"/> is spelt in the URL query, on the command line and in the form.</summary>
internal static class ExplainFields
{
    /// <summary>The URL query key and CLI option name (without <c>--</c>): <c>input</c>, <c>out-channels</c>, …</summary>
    public static string Key(ExplainField f) => f switch
    {
        ExplainField.Input => "input",
        ExplainField.Kernel => "kernel",
        ExplainField.Stride => "stride",
        ExplainField.Padding => "padding",
        ExplainField.Dilation => "dilation",
        ExplainField.Channels => "channels",
        ExplainField.OutChannels => "out-channels",
        ExplainField.Batch => "batch",
        ExplainField.Groups => "groups",
        ExplainField.Seed => "seed",
        _ => "base",
    };

    /// <summary>The label the explorer's form shows: <c>input</c>, <c>output channels</c>, <c>index base</c>, …</summary>
    public static string Label(ExplainField f) => f switch
    {
        ExplainField.OutChannels => "output channels",
        ExplainField.Base => "index base",
        _ => Key(f),
    };

    /// <summary>Names fields as the page does (its labels).</summary>
    public static Func<ExplainField, string> Page { get; } = Label;

    /// <summary>Names fields as the command line does (<c>--input</c>, <c>--out-channels</c>).</summary>
    public static Func<ExplainField, string> CommandLine { get; } = f => "--" + Key(f);

    /// <summary>The field whose query key is <paramref name="key"/>, or null.</summary>
    public static ExplainField? FromKey(string key) =>
        Enum.GetValues<ExplainField>().Where(f => Key(f) == key).Select(f => (ExplainField?)f).FirstOrDefault();
}

/// <summary>A request that cannot be explained, with the field it is about (null: the request as a whole).</summary>
/// <param name="field">The field to correct, or null.</param>
/// <param name="message">One line naming the field as the reader sees it (form label or CLI option).</param>
/// <param name="tooLarge">A valid geometry beyond the limits (<see cref="ExplainLimits"/>), rather than an invalid one.</param>
internal sealed class ExplainInputException(ExplainField? field, string message, bool tooLarge = false) : ArgumentException(message)
{
    /// <summary>The field to correct, or null when no single field is at fault.</summary>
    public ExplainField? Field { get; } = field;

    /// <summary>Whether the geometry is valid but beyond the limits, so that a smaller one can be offered instead.</summary>
    public bool TooLarge { get; } = tooLarge;
}
