namespace ConvGrad.Tests.Onnx;

/// <summary>docs/onnx.md's C# snippets compile as printed, against ConvGrad, ConvGrad.Onnx and ONNX Runtime.</summary>
public class OnnxDocSnippetTests
{
    public static TheoryData<int> Snippets() => DocSnippets.Indices("onnx.md");

    [Fact]
    public void TheDoc_ShowsExportImportOnnxRuntimeAndAFineTune() => Assert.Equal(4, Snippets().Count);

    [Theory]
    [MemberData(nameof(Snippets))]
    public void Snippet_Compiles(int index) => DocSnippets.AssertCompiles("onnx.md", index, typeof(Conv), typeof(ConvGrad.Onnx.OnnxExport), typeof(Microsoft.ML.OnnxRuntime.InferenceSession));
}
