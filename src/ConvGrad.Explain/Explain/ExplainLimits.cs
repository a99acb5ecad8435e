namespace ConvGrad.Explain;

/// <summary>What is explained: text (<c>convgrad explain</c>, 1-3 spatial axes) or the explorer page (1-D and 2-D grids).</summary>
internal enum ExplainScope
{
    /// <summary>The text of <c>convgrad explain</c>.</summary>
    Text,
    /// <summary>The derivation explorer (<c>--serve</c>, <c>--html</c> and its JSON API), which also draws every tensor.</summary>
    Page,
}

/// <summary>
/// The one definition of how large an explanation may be. The term limit and the channel, batch and group limits are
/// the same for the explorer page, its JSON API and the CLI's text; the page alone also caps the sizes it draws.
/// Messages quote these numbers, so the page, the API and the CLI can never disagree about them.
/// </summary>
internal static class ExplainLimits
{
    /// <summary>The most formula terms (kept and dropped, all three passes) an explanation holds.</summary>
    public const long MaxTerms = 10_000;

    /// <summary>The most input channels (and output channels).</summary>
    public const int MaxChannels = 8;

    /// <summary>The most batch items.</summary>
    public const int MaxBatch = 4;

    /// <summary>The most groups.</summary>
    public const int MaxGroups = MaxChannels;

    /// <summary>The largest input size per axis the page draws.</summary>
    public const int MaxDrawnInput = 12;

    /// <summary>The largest kernel size per axis the page draws.</summary>
    public const int MaxDrawnKernel = 7;

    /// <summary>The largest stride, padding and dilation the page draws.</summary>
    public const int MaxDrawnStep = 6;

    /// <summary>The most spatial axes of <paramref name="scope"/>.</summary>
    public static int MaxDims(ExplainScope scope) => scope == ExplainScope.Page ? 2 : 3;

    /// <summary>The upper limit of a count field (channels, output channels, batch, groups).</summary>
    public static int MaxCount(ExplainField f) => f switch
    {
        ExplainField.Batch => MaxBatch,
        ExplainField.Groups => MaxGroups,
        _ => MaxChannels,
    };
}
