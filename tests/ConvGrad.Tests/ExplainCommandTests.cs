using ConvGrad.Cli;
using ConvGrad.Explain;

namespace ConvGrad.Tests;

/// <summary><c>convgrad explain</c> through <see cref="Program.Run"/>: the pinned 4x4/2x2 cases, formats, and bad arguments.</summary>
public class ExplainCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        int code = Program.Run(["explain", .. args], stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static string[] Lines(string s) => s.Split('\n');

    [Fact]
    public void Stride1_4x4_2x2_PinsTheClassicFormulas()
    {
        var (code, o, e) = Run("--input", "4x4", "--kernel", "2x2");
        Assert.True(code == 0, e);
        var lines = Lines(o);
        Assert.Contains("O(1,1) = I(1,1)·K(1,1) + I(1,2)·K(1,2) + I(2,1)·K(2,1) + I(2,2)·K(2,2)", lines);
        Assert.Contains("O(3,3) = I(3,3)·K(1,1) + I(3,4)·K(1,2) + I(4,3)·K(2,1) + I(4,4)·K(2,2)", lines);
        // dK(u,v) = Σ_{i,j=1..3} I(i+u−1, j+v−1)·dO(i,j): nine terms, wrapped over two lines.
        Assert.Contains(lines, l => l.StartsWith("dK(1,1) = I(1,1)·dO(1,1) + I(1,2)·dO(1,2) + I(1,3)·dO(1,3) + I(2,1)·dO(2,1)", StringComparison.Ordinal));
        Assert.Contains("dI(1,1) = dO(1,1)·K(1,1)", lines);
        Assert.Contains("dI(2,2) = dO(1,1)·K(2,2) + dO(1,2)·K(2,1) + dO(2,1)·K(1,2) + dO(2,2)·K(1,1)", lines);
        Assert.Contains("dI(4,4) = dO(3,3)·K(2,2)", lines);
        Assert.Contains(lines, l => l.Contains("dropped dO(0,1)·K(2,1): dO row 0 < 1", StringComparison.Ordinal));
        Assert.Contains("verified: forward, dK, dI agree with the engine (max error", o, StringComparison.Ordinal);
    }

    [Fact]
    public void Stride2_4x4_2x2_PinsOneTermPerInputAndTheDilatedDO()
    {
        var (code, o, e) = Run("--input", "4x4", "--kernel", "2x2", "--stride", "2");
        Assert.True(code == 0, e);
        var lines = Lines(o);
        Assert.Contains("O(2,2) = I(3,3)·K(1,1) + I(3,4)·K(1,2) + I(4,3)·K(2,1) + I(4,4)·K(2,2)", lines);
        Assert.Contains("dK(1,1) = I(1,1)·dO(1,1) + I(1,3)·dO(1,2) + I(3,1)·dO(2,1) + I(3,3)·dO(2,2)", lines);
        Assert.Contains("dI(1,1) = dO(1,1)·K(1,1)", lines);
        Assert.Contains("dI(1,2) = dO(1,1)·K(1,2)", lines);
        Assert.Contains("dI(4,4) = dO(2,2)·K(2,2)", lines);
        Assert.Contains(lines, l => l.Contains("dropped dO(1,3/2)·K(1,1): dO column 3/2 is not a whole number (stride 2)", StringComparison.Ordinal));

        // The stride-2 dK is I ⋆ dO with dO dilated to 3x3.
        var doc = Document("4x4", "2x2", 2);
        var dilated = Assert.Single(doc.Blocks.OfType<MatrixBlock>(), m => m.Name == "dO′");
        var rows = Assert.Single(dilated.Slices).Rows;
        Assert.Equal(3, rows.Count);
        Assert.All(rows, r => Assert.Equal(3, r.Count));
        Assert.Equal(["dO(1,1)", "0", "dO(1,2)"], rows[0].Select(Cell));
        Assert.Equal(["0", "0", "0"], rows[1].Select(Cell));
        Assert.Equal(["dO(2,1)", "0", "dO(2,2)"], rows[2].Select(Cell));
        // dI = full correlation of the padded, zero-inserted dO (5x5) with the rotated kernel.
        var padded = Assert.Single(doc.Blocks.OfType<MatrixBlock>(), m => m.Name == "dO″").Slices[0].Rows;
        Assert.Equal(5, padded.Count);
        Assert.Equal(["0", "dO(1,1)", "0", "dO(1,2)", "0"], padded[1].Select(Cell));
        var rot = Assert.Single(doc.Blocks.OfType<MatrixBlock>(), m => m.Name == "rot180(K)").Slices[0].Rows;
        Assert.Equal(["K(2,2)", "K(2,1)"], rot[0].Select(Cell));
        Assert.Contains(lines, l => l.Contains("output_padding = 0", StringComparison.Ordinal));
    }

    [Fact]
    public void Stride2_5x5_NamesTheTrailingRowsAndOutputPadding()
    {
        var (code, o, e) = Run("--input", "5x5", "--kernel", "2x2", "--stride", "2");
        Assert.True(code == 0, e);
        Assert.Contains("dI(5,5) = 0   (no output reads this position)", Lines(o));
        string flat = o.ReplaceLineEndings(" ");
        Assert.Contains("row 5: the last window ends at row 4", flat, StringComparison.Ordinal);
        Assert.Contains("output_padding = 1 adds the missing trailing positions", flat, StringComparison.Ordinal);
    }

    [Fact]
    public void ZeroBased_WritesIndicesFromZero()
    {
        var (code, o, _) = Run("--input", "4x4", "--kernel", "2x2", "--stride", "2", "--zero-based");
        Assert.Equal(0, code);
        Assert.Contains("dI(0,0) = dO(0,0)·K(0,0)", Lines(o));
        Assert.Contains("dK(0,0) = I(0,0)·dO(0,0) + I(0,2)·dO(0,1) + I(2,0)·dO(1,0) + I(2,2)·dO(1,1)", Lines(o));
    }

    [Fact]
    public void EngineSection_IsTheDefaultBackendsOwnDescription()
    {
        var g = ConvGeometry.Uniform(2, stride: 2);
        var d = Derivation.Derive(g, [1, 1, 4, 4], [1, 1, 2, 2]);
        var doc = ExplainDocumentBuilder.Build(d, false, ExplainSections.All, []);
        var paragraphs = doc.Blocks.OfType<Paragraph>().Select(p => p.Text).ToList();
        var backend = Backends.For(ConvOptions.Default);
        foreach (var pass in Enum.GetValues<ConvPass>())
        {
            Assert.Contains(paragraphs, p => p.EndsWith(backend.Describe(d.Problem, pass), StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("8", "3", "2", "1,2")]
    [InlineData("3x4x4", "2x2x2", "1,2,2", "0,1,0,1,0,0")]
    [InlineData("5x5", "3x3", "2", "1,1,0,0")]
    public void OneTwoAndThreeD_WithPadding_Verify(string input, string kernel, string stride, string padding)
    {
        var (code, o, e) = Run("--input", input, "--kernel", kernel, "--stride", stride, "--padding", padding, "--dilation", "1");
        Assert.True(code == 0, e);
        Assert.Contains("verified: forward, dK, dI agree with the engine", o, StringComparison.Ordinal);
    }

    [Fact]
    public void ChannelsGroupsAndBatch_ShowTheirIndices()
    {
        var (code, o, e) = Run("--input", "3x3", "--kernel", "2x2", "--channels", "4", "--out-channels", "2", "--groups", "2", "--batch", "2");
        Assert.True(code == 0, e);
        // Output channel 2 belongs to group 2 and reads input channels 3 and 4 (K(2,1,·) and K(2,2,·)).
        Assert.Contains(Lines(o), l => l.StartsWith("O(2,2,1,1) = I(2,3,1,1)·K(2,1,1,1) +", StringComparison.Ordinal));
        Assert.Contains(Lines(o), l => l.Contains("I(2,4,1,1)·K(2,2,1,1)", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("markdown", "#### 3. dI: the gradient with respect to the input", "```text")]
    [InlineData("latex", "\\begin{align*}", "\\mathrm{d}I_{1,1} &= \\mathrm{d}O_{1,1}\\,K_{1,1}")]
    public void Formats_RenderTheSameFormulas(string format, string marker1, string marker2)
    {
        var (code, o, e) = Run("--input", "4x4", "--kernel", "2x2", "--stride", "2", "--format", format);
        Assert.True(code == 0, e);
        Assert.Contains(marker1, o, StringComparison.Ordinal);
        Assert.Contains(marker2, o, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("missing --input", "--kernel", "2x2")]
    [InlineData("missing --kernel", "--input", "4x4")]
    [InlineData("larger than the padded input", "--input", "3x3", "--kernel", "5x5")]
    [InlineData("larger than the padded input", "--input", "4", "--kernel", "3", "--dilation", "2")]
    [InlineData("too large: this geometry has 40,392 formula terms, more than the 10,000", "--input", "40x40", "--kernel", "3x3")]
    [InlineData("it fits with --input 20x20 (9,432 terms)", "--input", "40x40", "--kernel", "3x3")]
    [InlineData("--channels must be between 1 and 8; got 9", "--input", "4x4", "--kernel", "2x2", "--channels", "9")]
    [InlineData("--padding needs one value", "--input", "4x4", "--kernel", "2x2", "--padding", "1,1,1")]
    [InlineData("--kernel 2 has 1 axis but --input 4x4 has 2", "--input", "4x4", "--kernel", "2")]
    [InlineData("--format must be", "--input", "4x4", "--kernel", "2x2", "--format", "html")]
    [InlineData("divisible by --groups", "--input", "4x4", "--kernel", "2x2", "--channels", "3", "--groups", "2")]
    [InlineData("--stride must be at least 1 on every axis; got 0", "--input", "4x4", "--kernel", "2x2", "--stride", "0")]
    [InlineData("unknown option --strde", "--input", "4x4", "--kernel", "2x2", "--strde", "2")]
    public void BadArguments_GiveOneLineErrorAndExit2(string expected, params string[] args)
    {
        var (code, o, e) = Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", o);
        Assert.Single(e.TrimEnd('\n').Split('\n'));
        Assert.StartsWith("convgrad explain: ", e, StringComparison.Ordinal);
        Assert.Contains(expected, e, StringComparison.Ordinal);
    }

    private static Document Document(string input, string kernel, int stride)
    {
        int[] i = input.Split('x').Select(int.Parse).ToArray(), k = kernel.Split('x').Select(int.Parse).ToArray();
        var d = Derivation.Derive(ConvGeometry.Uniform(i.Length, stride), [1, 1, .. i], [1, 1, .. k]);
        return ExplainDocumentBuilder.Build(d, false, ExplainSections.All, []);
    }

    private static string Cell(Sym? s) => s is null ? "0" : TextRenderer.Format(s);
}
