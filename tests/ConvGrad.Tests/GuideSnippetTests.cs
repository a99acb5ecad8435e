namespace ConvGrad.Tests;

/// <summary>docs/guide.md's C# snippets compile as printed, as a user's console program against ConvGrad, ConvGrad.Vision and ConvGrad.Gpu.</summary>
public class GuideSnippetTests
{
    public static TheoryData<int> Snippets() => DocSnippets.Indices("guide.md");

    [Fact]
    public void TheGuide_ShowsAModelATrainingRunAFineTuneImagesAndDevices() => Assert.Equal(5, Snippets().Count);

    [Theory]
    [MemberData(nameof(Snippets))]
    public void Snippet_Compiles(int index) => DocSnippets.AssertCompiles("guide.md", index, typeof(Conv), typeof(ConvGrad.Vision.ImageFolder), typeof(ConvGrad.Gpu.GpuDevice));
}
