using System.Globalization;
using ConvGrad.Cli.Explorer;
using ConvGrad.Explain;
using CsCheck;

namespace ConvGrad.Tests;

/// <summary>
/// The explorer's "how the engine computes it" panel, channels and index base, without a browser: the stride phases
/// partition dI and each, computed as the dense correlation it claims to be, equals the engine's dI; the multiply-add
/// counts follow from the geometry and agree with the derived formulas; dK's stated order reproduces the engine's bits;
/// ConvTranspose's forward on dO is dI; channel sums and groups; 0-based labels; the one definition of the limits.
/// </summary>
public class ExplorerEngineTests
{
    private static ExplorerModel Seed(bool zeroBased = false) =>
        ExplorerModel.Build(Derivation.Derive(ConvGeometry.Uniform(2, stride: 2), [1, 1, 4, 4], [1, 1, 2, 2]), seed: 1, zeroBased);

    [Fact]
    public void SeedCase_FourPhases_EachOneTapAndFourCells_AndTheMultiplyAddCounts()
    {
        var e = Seed().Engine;
        Assert.Equal(4, e.Phases.Count);
        Assert.Equal(["dI(1,1)", "dI(1,3)", "dI(3,1)", "dI(3,3)"], e.Phases[0].Cells);
        Assert.Equal(["K(1,1)"], e.Phases[0].Taps);
        Assert.Equal(["dO(1,1)", "dO(1,2)", "dO(2,1)", "dO(2,2)"], e.Phases[0].OutputCells);
        Assert.Equal("dI(2t−1,2u−1) = dO(t,u)·K(1,1)", e.Phases[0].Formula);
        Assert.Equal(["K(2,2)"], e.Phases[3].Taps);
        Assert.Equal("dI(2t,2u) = dO(t,u)·K(2,2)", e.Phases[3].Formula);
        Assert.All(e.Phases, p => Assert.True(p.Verified));
        // 16 dI cells × 4 taps over the zero-inserted dO″; by phases 4 cells × 1 tap each.
        Assert.Equal(64, e.MultiplyAdds.ZeroInserted);
        Assert.Equal(16, e.MultiplyAdds.Phases);
        Assert.Equal(16, e.MultiplyAdds.Useful);
        Assert.Equal("16 dI cells × 4 taps of rot180(K) = 64", e.MultiplyAdds.ZeroInsertedText);
        Assert.Equal("4×1 + 4×1 + 4×1 + 4×1 = 16", e.MultiplyAdds.PhasesText);
    }

    /// <summary>
    /// For random geometries with batch, channels and groups: the phases partition every dI cell; each phase's taps
    /// are exactly the taps of its cells' kept terms plus those dropped only for range (never one dropped as "not a
    /// whole number"); the dO cells it reads include every dO of its cells' kept terms; and computed as the correlation
    /// it claims to be, each phase equals the engine's dI. The counts agree with the formulas: zero-inserted = every
    /// candidate term, useful = every kept term, phases between the two (equal to zero-inserted at stride 1).
    /// </summary>
    [Fact]
    public void Phases_PartitionDI_AgreeWithTheFormulas_AndEqualTheEngine()
    {
        var counts = Gen.OneOf(Gen.Const((1, 1, 1, 1)), Gen.Const((2, 2, 2, 1)), Gen.Const((1, 4, 2, 2)), Gen.Const((2, 2, 4, 2)));
        Gen.Select(ExplorerTests.RandomGeometries(), counts).Sample((t, c) =>
        {
            var d = ExplorerTests.Derive(t, c.Item1, c.Item2, c.Item3, c.Item4);
            var m = ExplorerModel.Build(d, seed: 3);
            var e = m.Engine;
            var di = m.Formulas.Where(f => f.Cell.StartsWith("dI(", StringComparison.Ordinal)).ToDictionary(f => f.Cell);
            Assert.Equal(di.Keys.Order(), e.Phases.SelectMany(p => p.Cells).Order());
            foreach (var p in e.Phases)
            {
                Assert.True(p.Verified, $"{p.Name}: largest difference {p.MaxError}");
                foreach (var cell in p.Cells)
                {
                    Assert.All(di[cell].Products, x => Assert.Contains(x.B, p.Taps));
                    Assert.All(di[cell].Products, x => Assert.Contains(x.A, p.OutputCells));
                    Assert.All(di[cell].Dropped.Where(x => x.Text.Contains("not a whole number", StringComparison.Ordinal)), x => Assert.DoesNotContain(x.B, p.Taps));
                }
            }
            long candidates = d.InputGradient.Sum(f => (long)f.Terms.Count + f.Excluded.Count);
            long kept = d.InputGradient.Sum(f => (long)f.Terms.Count);
            Assert.Equal(candidates, e.MultiplyAdds.ZeroInserted);
            Assert.Equal(kept, e.MultiplyAdds.Useful);
            Assert.InRange(e.MultiplyAdds.Phases, kept, candidates);
            if (d.Problem.UnitStride)
            {
                Assert.Equal(candidates, e.MultiplyAdds.Phases);
            }
            Assert.True(e.Transposed.Equal, e.Transposed.Verdict);
        }, iter: 30);
    }

    [Fact]
    public void SeedCase_DKsOrderReproducesTheEngineBitForBit_WithAnyThreadCount()
    {
        var r = Seed().Engine.Reduction;
        Assert.True(r.SameBits);
        Assert.Equal(4, r.Cells);
        Assert.Equal(4, r.Reproduced);
        Assert.Equal([1, 2, 3], r.Threads);
        Assert.Contains("gives the engine's dK bit for bit in all 4 cells", r.Verdict, StringComparison.Ordinal);
    }

    /// <summary>The engine's dW is bitwise the same for 1, 2 and 3 threads on every geometry the page can show.</summary>
    [Fact]
    public void DW_IsBitwiseTheSameForAnyThreadCount()
    {
        Gen.Select(ExplorerTests.RandomGeometries(), Gen.OneOf(Gen.Const((1, 1, 1, 1)), Gen.Const((2, 4, 4, 1)), Gen.Const((2, 8, 8, 1)), Gen.Const((1, 4, 4, 4)))).Sample((t, c) =>
        {
            var check = ReductionOrder.Check(ExplorerTests.Derive(t, c.Item1, c.Item2, c.Item3, c.Item4), seed: 5);
            Assert.True(check.SameBits);
        }, iter: 20);
    }

    [Fact]
    public void TransposedConvolution_OfTheSeed_IsDI_WithItsCall()
    {
        var t = Seed().Engine.Transposed;
        Assert.True(t.Equal);
        Assert.Equal([0, 0], t.OutputPadding);
        Assert.Equal("ConvTranspose.Forward(dO, K, null, new ConvGeometry(stride: [2, 2], paddingBefore: [0, 0], paddingAfter: [0, 0], dilation: [1, 1], groups: 1, outputPadding: [0, 0]))", t.Call);
        Assert.Equal("torch.nn.functional.conv_transpose2d(dO, K, stride=2, padding=0, output_padding=0, groups=1, dilation=1)", t.Torch);
        Assert.Equal(16, t.Values.Count);
        // A 5x5 input needs output_padding 1 to get its trailing row and column (which are 0).
        var five = ExplorerModel.Build(Derivation.Derive(ConvGeometry.Uniform(2, stride: 2), [1, 1, 5, 5], [1, 1, 2, 2]), seed: 1).Engine.Transposed;
        Assert.True(five.Equal);
        Assert.Equal([1, 1], five.OutputPadding);
        Assert.Equal(0, five.Values["dI(5,5)"]);
    }

    [Fact]
    public void TwoChannelsTwoOutputs_ShowChannelSums()
    {
        var d = Derivation.Derive(ConvGeometry.Uniform(2, stride: 2), [1, 2, 4, 4], [2, 2, 2, 2]);
        var m = ExplorerModel.Build(d, seed: 1);
        Assert.Equal(2 + 4 + 2 + 2 + 4 + 2, m.Grids.Count);
        Assert.Equal(["c = 1", "c = 2"], m.Grids.Where(g => g.Name == "I").Select(g => g.Slice));
        Assert.Equal(["k = 1, c′ = 1", "k = 1, c′ = 2", "k = 2, c′ = 1", "k = 2, c′ = 2"], m.Grids.Where(g => g.Name == "K").Select(g => g.Slice));
        var o = m.Formulas.Single(f => f.Cell == "O(1,1,1)");
        Assert.Equal(["c = 1", "c = 2"], o.Sums.Select(s => s.Over));
        Assert.Equal("I(1,1,1)·K(1,1,1,1) + I(1,1,2)·K(1,1,1,2) + I(1,2,1)·K(1,1,2,1) + I(1,2,2)·K(1,1,2,2)", o.Sums[0].Text);
        Assert.Equal(o.Products, o.Sums.SelectMany(s => s.Products));
        var di = m.Formulas.Single(f => f.Cell == "dI(2,1,1)");
        Assert.Equal(["k = 1", "k = 2"], di.Sums.Select(s => s.Over));
        Assert.Equal("dO(1,1,1)·K(1,2,1,1)", di.Sums[0].Text);
        Assert.True(m.Verified);
    }

    [Fact]
    public void Groups_AreShownAndSummedWithin()
    {
        // 4 input channels, 2 output channels, 2 groups: output channel 2 reads input channels 3 and 4 only.
        var d = Derivation.Derive(ConvGeometry.Uniform(2, groups: 2), [1, 4, 3, 3], [2, 2, 2, 2]);
        var m = ExplorerModel.Build(d, seed: 1);
        Assert.Equal(2, m.Channels.GroupList.Count);
        Assert.Equal(["c = 3", "c = 4"], m.Channels.GroupList[1].InputChannels);
        Assert.Equal(["k = 2"], m.Channels.GroupList[1].OutputChannels);
        Assert.Equal([0, 0, 1, 1], m.Grids.Where(g => g.Name == "I").Select(g => g.Group));
        Assert.Equal(["c = 3", "c = 4"], m.Formulas.Single(f => f.Cell == "O(2,1,1)").Sums.Select(s => s.Over));
        Assert.Contains("2 groups", m.Channels.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void ZeroBased_RelabelsFormulasGridsPhasesAndDropped()
    {
        var m = Seed(zeroBased: true);
        var di00 = m.Formulas.Single(f => f.Cell == "dI(0,0)");
        Assert.Equal("dI(0,0) = dO(0,0)·K(0,0)", di00.Text);
        Assert.Equal("dI(0,0)", m.Grids.Single(g => g.Name == "dI").Cells[0]);
        Assert.Equal("dI(2t,2u) = dO(t,u)·K(0,0)", m.Engine.Phases[0].Formula);
        Assert.Equal("t = 0…1, u = 0…1", m.Engine.Phases[0].Range);
        Assert.StartsWith("rows 0, 2 × columns 0, 2", m.Engine.Phases[0].Name, StringComparison.Ordinal);
        Assert.Contains("dI(0,0) = dO(0,0)·K(0,0)", m.Text.Split('\n'));
        Assert.Contains("dropped dO(-1/2,-1/2)·K(1,1): dO row -1/2 is not a whole number (stride 2)", di00.Dropped.Select(x => x.Text));
        Assert.True(m.Engine.Transposed.Values.ContainsKey("dI(3,3)"));
    }

    [Fact]
    public void DroppedTerms_HaveACountAndAOneLineReason()
    {
        var m = Seed();
        Assert.Equal("3 dropped terms: the dO index is not a whole number (stride 2 skips it)", m.Formulas.Single(f => f.Cell == "dI(1,1)").DroppedSummary);
        Assert.Null(m.Formulas.Single(f => f.Cell == "O(1,1)").DroppedSummary);
        // 5x5 input, 3x3 kernel, stride 2: dI(1,1) loses 5 taps to the stride and 3 to the start of dO.
        var mixed = ExplorerModel.Build(Derivation.Derive(ConvGeometry.Uniform(2, stride: 2), [1, 1, 5, 5], [1, 1, 3, 3]), seed: 1);
        Assert.Equal("8 dropped terms: 3 where the dO index is before the first output (1); 5 where the dO index is not a whole number (stride 2 skips it)",
            mixed.Formulas.Single(f => f.Cell == "dI(1,1)").DroppedSummary);
    }

    /// <summary>The limits are one definition: the CLI's options, the page's text and the API refuse at exactly the same numbers.</summary>
    [Fact]
    public void Limits_AreTheSameInThePageTheApiAndTheCli()
    {
        string html = ExplorerPage.Html(null);
        foreach (var v in new[] { ExplainLimits.MaxDrawnInput, ExplainLimits.MaxDrawnKernel, ExplainLimits.MaxChannels, ExplainLimits.MaxBatch, ExplainLimits.MaxGroups })
        {
            Assert.Contains(v.ToString(CultureInfo.InvariantCulture), html, StringComparison.Ordinal);
        }
        Assert.Contains(ExplainLimits.MaxTerms.ToString("N0", CultureInfo.InvariantCulture) + " formula terms", html, StringComparison.Ordinal);
        Assert.DoesNotContain("{{", html, StringComparison.Ordinal);
        foreach (var (field, max) in new[] { ("channels", ExplainLimits.MaxChannels), ("out-channels", ExplainLimits.MaxChannels), ("batch", ExplainLimits.MaxBatch), ("groups", ExplainLimits.MaxGroups) })
        {
            string ok = max.ToString(CultureInfo.InvariantCulture), over = (max + 1).ToString(CultureInfo.InvariantCulture);
            // At the limit both accept (a 1-D geometry small enough for any count); one over, both refuse with the same number.
            string groups = field == "groups" ? $"&channels={ok}&out-channels={ok}" : "";
            var (status, _) = ExplorerApi.Answer(Query($"input=2&kernel=1&{field}={ok}{groups}"));
            Assert.Equal(200, status);
            var (code, _, e) = Cli.Run(["explain", "--input", "2", "--kernel", "1", "--" + field, ok, .. (field == "groups" ? new[] { "--channels", ok, "--out-channels", ok } : []), "--sections", "verify"]);
            Assert.True(code == 0, e);
            var (badStatus, body) = ExplorerApi.Answer(Query($"input=2&kernel=1&{field}={over}"));
            Assert.Equal(400, badStatus);
            Assert.Contains($"must be between 1 and {ok}; got {over}", body, StringComparison.Ordinal);
            var (badCode, _, badErr) = Cli.Run("explain", "--input", "2", "--kernel", "1", "--" + field, over);
            Assert.Equal(2, badCode);
            Assert.Contains($"--{field} must be between 1 and {ok}; got {over}", badErr, StringComparison.Ordinal);
        }
    }

    private static IEnumerable<KeyValuePair<string, string>> Query(string q) =>
        q.Split('&').Select(p => p.Split('=', 2)).Select(p => new KeyValuePair<string, string>(p[0], p[1]));
}
