using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace ConvGrad.Tests;

/// <summary>The README's C# snippets compile as printed, against the built ConvGrad.dll, as a user's console program would.</summary>
public partial class ReadmeSnippetTests
{
    /// <summary>The global usings of a <c>dotnet new console</c> project (ImplicitUsings).</summary>
    private const string ImplicitUsings =
        "global using System; global using System.Collections.Generic; global using System.IO; global using System.Linq; " +
        "global using System.Net.Http; global using System.Threading; global using System.Threading.Tasks;";

    [GeneratedRegex(@"^```csharp\r?\n(.*?)^```", RegexOptions.Singleline | RegexOptions.Multiline)]
    private static partial Regex CSharpBlock();

    public static TheoryData<int> Snippets()
    {
        var data = new TheoryData<int>();
        int count = CSharpBlock().Matches(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"))).Count;
        for (int i = 0; i < count; i++)
        {
            data.Add(i);
        }
        return data;
    }

    [Fact]
    public void TheReadme_HasCSharpSnippets() => Assert.NotEmpty(Snippets());

    [Theory]
    [MemberData(nameof(Snippets))]
    public void Snippet_Compiles(int index)
    {
        string code = CSharpBlock().Matches(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md")))[index].Groups[1].Value;
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
            .Append(typeof(Conv).Assembly.Location)
            .Distinct()
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create(
            $"ReadmeSnippet{index}",
            [CSharpSyntaxTree.ParseText(ImplicitUsings, parse), CSharpSyntaxTree.ParseText(code, parse)],
            references,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        using var output = new MemoryStream();
        var result = compilation.Emit(output);
        var errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToArray();
        Assert.True(result.Success, $"README snippet {index} does not compile:\n{string.Join("\n", errors)}\n---\n{code}");
    }
}
