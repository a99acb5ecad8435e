using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace ConvGrad.Tests;

/// <summary>docs/guide.md's C# snippets compile as printed, as a user's console program against ConvGrad, ConvGrad.Vision and ConvGrad.Gpu.</summary>
public partial class GuideSnippetTests
{
    private const string ImplicitUsings =
        "global using System; global using System.Collections.Generic; global using System.IO; global using System.Linq; " +
        "global using System.Net.Http; global using System.Threading; global using System.Threading.Tasks;";

    private static readonly string Doc = Path.Combine(TestPaths.RepoRoot, "docs", "guide.md");

    [GeneratedRegex(@"^```csharp\r?\n(.*?)^```", RegexOptions.Singleline | RegexOptions.Multiline)]
    private static partial Regex CSharpBlock();

    public static TheoryData<int> Snippets()
    {
        var data = new TheoryData<int>();
        int count = CSharpBlock().Matches(File.ReadAllText(Doc)).Count;
        for (int i = 0; i < count; i++)
        {
            data.Add(i);
        }
        return data;
    }

    [Fact]
    public void TheGuide_ShowsAModelATrainingRunImagesAndDevices() => Assert.Equal(4, Snippets().Count);

    [Theory]
    [MemberData(nameof(Snippets))]
    public void Snippet_Compiles(int index)
    {
        string code = CSharpBlock().Matches(File.ReadAllText(Doc))[index].Groups[1].Value;
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
            .Append(typeof(Conv).Assembly.Location)
            .Append(typeof(ConvGrad.Vision.ImageFolder).Assembly.Location)
            .Append(typeof(ConvGrad.Gpu.GpuDevice).Assembly.Location)
            .Distinct()
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create(
            $"GuideSnippet{index}",
            [CSharpSyntaxTree.ParseText(ImplicitUsings, parse), CSharpSyntaxTree.ParseText(code, parse)],
            references,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        using var output = new MemoryStream();
        var result = compilation.Emit(output);
        var errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToArray();
        Assert.True(result.Success, $"docs/guide.md snippet {index} does not compile:\n{string.Join("\n", errors)}\n---\n{code}");
    }
}
