using ConvGrad.Cli;

namespace ConvGrad.Tests;

/// <summary>
/// docs/derivation.md embeds <c>convgrad explain</c> output between generated markers; these tests fail when the
/// embedded text is stale. Regenerate with
/// <c>dotnet run --project src/ConvGrad.Cli -c Release -- explain --update-docs docs/derivation.md</c>.
/// </summary>
public class ExplainDocsTests
{
    private static string DocPath => Path.Combine(TestPaths.RepoRoot, "docs", "derivation.md");

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        int code = Program.Run(["explain", .. args], stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void DerivationDoc_EmbeddedExplainBlocks_AreCurrent()
    {
        var (code, o, e) = Run("--check-docs", DocPath);
        Assert.True(code == 0, e + " — regenerate with: dotnet run --project src/ConvGrad.Cli -c Release -- explain --update-docs docs/derivation.md");
        Assert.Contains("all 3 explain block(s) are current", o, StringComparison.Ordinal);
    }

    [Fact]
    public void DerivationDoc_ShowsTheWorkedCases_WithoutRandomOrEngineText()
    {
        string doc = File.ReadAllText(DocPath).ReplaceLineEndings("\n");
        var lines = doc.Split('\n');
        Assert.Contains("dI(2,2) = dO(1,1)·K(2,2) + dO(1,2)·K(2,1) + dO(2,1)·K(1,2) + dO(2,2)·K(1,1)", lines);
        Assert.Contains("dK(1,1) = I(1,1)·dO(1,1) + I(1,3)·dO(1,2) + I(3,1)·dO(2,1) + I(3,3)·dO(2,2)", lines);
        Assert.Contains("dI(5,5) = 0   (no output reads this position)", lines);
        // Deterministic text only: integer-valued verification (error exactly 0), no engine description.
        Assert.DoesNotContain("random values in [", doc, StringComparison.Ordinal);
        Assert.DoesNotContain("How it is computed fast", doc, StringComparison.Ordinal);
        Assert.Equal(3, lines.Count(l => l.StartsWith("**verified: forward, dK, dI agree with the engine (max error 0 on integer values)**", StringComparison.Ordinal)));
    }

    [Fact]
    public void CheckDocs_DetectsAnEditedBlock_AndUpdateDocsRepairsIt()
    {
        string original = File.ReadAllText(DocPath).ReplaceLineEndings("\n");
        string temp = Path.Combine(Path.GetTempPath(), $"convgrad-derivation-{Guid.NewGuid():N}.md");
        try
        {
            File.WriteAllText(temp, original.Replace("dI(1,1) = dO(1,1)·K(1,1)\n", "dI(1,1) = dO(1,1)·K(2,2)\n", StringComparison.Ordinal));
            var (code, _, e) = Run("--check-docs", temp);
            Assert.Equal(1, code);
            Assert.Contains("is stale", e, StringComparison.Ordinal);

            Assert.Equal(0, Run("--update-docs", temp).Code);
            Assert.Equal(original, File.ReadAllText(temp));
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
