namespace ConvGrad.Tests.Data;

/// <summary>docs/data.md's C# snippets compile as printed, against ConvGrad and ConvGrad.Vision.</summary>
public class DataDocSnippetTests
{
    public static TheoryData<int> Snippets() => DocSnippets.Indices("data.md");

    [Fact]
    public void TheDoc_ShowsATrainingLoop() => Assert.Single(Snippets());

    [Theory]
    [MemberData(nameof(Snippets))]
    public void Snippet_Compiles(int index) => DocSnippets.AssertCompiles("data.md", index, typeof(Conv), typeof(ConvGrad.Vision.ImageFolder));
}
