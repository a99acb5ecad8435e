using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace ConvGrad.Tests;

/// <summary>
/// The C# snippets of one markdown page under docs/, compiled as printed: as a user's console program with .NET's
/// implicit usings, against the framework and the given library assemblies. Each doc's snippet test asks this.
/// </summary>
internal static partial class DocSnippets
{
    private const string ImplicitUsings =
        "global using System; global using System.Collections.Generic; global using System.IO; global using System.Linq; " +
        "global using System.Net.Http; global using System.Threading; global using System.Threading.Tasks;";

    [GeneratedRegex(@"^```csharp\r?\n(.*?)^```", RegexOptions.Singleline | RegexOptions.Multiline)]
    private static partial Regex CSharpBlock();

    /// <summary>The indices of docs/<paramref name="doc"/>'s C# snippets, as theory data.</summary>
    public static TheoryData<int> Indices(string doc)
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Blocks(doc).Count; i++)
        {
            data.Add(i);
        }
        return data;
    }

    /// <summary>Asserts that snippet <paramref name="index"/> of docs/<paramref name="doc"/> compiles against <paramref name="libraries"/>.</summary>
    public static void AssertCompiles(string doc, int index, params Type[] libraries)
    {
        string code = Blocks(doc)[index].Groups[1].Value;
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
            .Concat(libraries.Select(t => t.Assembly.Location))
            .Distinct()
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create(
            $"{Path.GetFileNameWithoutExtension(doc)}Snippet{index}",
            [CSharpSyntaxTree.ParseText(ImplicitUsings, parse), CSharpSyntaxTree.ParseText(code, parse)],
            references,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        using var output = new MemoryStream();
        var result = compilation.Emit(output);
        var errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToArray();
        Assert.True(result.Success, $"docs/{doc} snippet {index} does not compile:\n{string.Join("\n", errors)}\n---\n{code}");
    }

    private static MatchCollection Blocks(string doc) => CSharpBlock().Matches(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "docs", doc)));
}
