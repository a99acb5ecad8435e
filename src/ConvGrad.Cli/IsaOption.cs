using System.CommandLine;

namespace ConvGrad.Cli;

/// <summary>
/// <c>--isa auto|avx512|avx2|portable</c>, shared by verify and bench: caps the fast engine's instruction-set tier
/// (<see cref="ConvOptions.MaxIsa"/>). A cap above what this machine (or the runtime's <c>DOTNET_EnableAVX512</c> /
/// <c>DOTNET_EnableAVX2</c> knobs) allows runs on the widest tier available; the commands print the tier that ran.
/// </summary>
internal static class IsaOption
{
    /// <summary>Declares <c>--isa</c> (default auto).</summary>
    public static Option<string> Declare() => CliOptions.Text("isa",
        "the widest instruction set the fast engine may use: auto, avx512, avx2 or portable (Vector128/scalar); the tier that ran is printed",
        "auto", Names);

    /// <summary>The lower-case names, in the order of <see cref="ConvIsa"/>.</summary>
    public static IEnumerable<string> Names => Enum.GetValues<ConvIsa>().Select(Name);

    /// <summary>The lower-case name of a tier (auto, avx512, avx2, portable).</summary>
    public static string Name(ConvIsa isa) => isa.ToString().ToLowerInvariant();

    /// <summary>Reads <c>--isa</c> (default auto).</summary>
    public static ConvIsa Parse(ParseResult parsed, Option<string> option)
    {
        string name = parsed.GetValue(option)!;
        foreach (var isa in Enum.GetValues<ConvIsa>())
        {
            if (Name(isa) == name)
            {
                return isa;
            }
        }
        throw new UsageException($"--isa must be one of {string.Join(", ", Names)}; got '{name}'");
    }
}
