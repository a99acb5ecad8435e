namespace ConvGrad.Tests;

/// <summary>
/// The command line as System.CommandLine parses it for convgrad: help generated from the options the commands read,
/// completion through the [suggest] directive, and every bad command line refused with one line and exit code 2.
/// </summary>
public class CliParsingTests
{
    [Theory]
    [InlineData("train", "--epochs", "--batch-size", "--optimizer", "--lr", "--device", "--distributed", "--resume")]
    [InlineData("bench", "--suite", "--passes", "--format", "--baseline", "--engine", "--isa", "--layout", "--only", "--min-time")]
    [InlineData("verify", "<DIR>", "--engine", "--isa", "--device", "--threads", "--verbose")]
    [InlineData("explain", "--input", "--kernel", "--stride", "--padding", "--dilation", "--html", "--serve", "--check-docs")]
    [InlineData("predict", "--model", "--image", "--idx", "--index", "--count")]
    [InlineData("gpu-bench", "--device", "--batch-scale", "--rounds", "--reps", "--csv")]
    public void Help_ListsTheDeclaredOptions(string command, params string[] options)
    {
        foreach (var args in new[] { new[] { "help", command }, [command, "--help"] })
        {
            var (code, o, e) = Cli.Run(args);
            Assert.Equal(0, code);
            Assert.Equal("", e);
            Assert.Contains($"convgrad {command}", o, StringComparison.Ordinal);
            Assert.All(options, option => Assert.Contains(option, o, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Help_HidesTestOnlyOptions_AndShowsDefaultsAndDetails()
    {
        var (_, o, _) = Cli.Run("help", "train");
        Assert.DoesNotContain("--stop-after-epoch", o, StringComparison.Ordinal);
        Assert.DoesNotContain("--bucket-bytes", o, StringComparison.Ordinal);
        Assert.Contains("[default: 64]", o, StringComparison.Ordinal);
        Assert.Contains("'held-out accuracy: NN.NN%'", o, StringComparison.Ordinal); // the details after the options
    }

    [Fact]
    public void NoArguments_PrintsTheCommandList_AndExits2()
    {
        var (code, o, _) = Cli.Run();
        Assert.Equal(2, code);
        foreach (var command in new[] { "verify", "train", "predict", "explain", "bench", "gpu-bench" })
        {
            Assert.Contains($"  {command} ", o, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void SuggestDirective_CompletesOptionsAndValues()
    {
        var (code, o, _) = Cli.Run("[suggest:18]", "convgrad bench --f");
        Assert.Equal(0, code);
        Assert.Contains("--format", o.Split('\n').Select(l => l.TrimEnd('\r')));
        (code, o, _) = Cli.Run("[suggest:24]", "convgrad bench --format ");
        Assert.Equal(0, code);
        Assert.Equal(["csv", "table"], o.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')));
    }

    [Theory]
    [InlineData("option --epochs is given more than once", "train", "--epochs", "1", "--epochs", "2")]
    [InlineData("option --epochs is given more than once", "train", "--epochs=1", "--epochs", "2")]
    [InlineData("option --verbose is given more than once", "verify", ".", "--verbose", "--verbose")]
    [InlineData("option --epochs needs a value", "train", "--epochs")]
    [InlineData("--epochs must be an integer; got 'many'", "train", "--epochs", "many")]
    [InlineData("--lr must be a number; got 'fast'", "train", "--lr", "fast")]
    [InlineData("--lr must be between", "train", "--lr", "2e6")]
    [InlineData("unknown option --bogus", "predict", "--bogus=1")]
    [InlineData("unexpected argument 'extra'", "verify", ".", "extra")]
    [InlineData("--input must be a list of integers", "explain", "--input", "4xa", "--kernel", "2x2")]
    [InlineData("unknown option --format", "explain", "--input", "4x4", "--kernel", "2x2", "--html", "x.html", "--format", "latex")]
    public void BadCommandLine_IsOneLineNamingTheCommand_AndExits2(string expected, params string[] args)
    {
        var (code, o, e) = Cli.Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", o);
        string line = Assert.Single(e.TrimEnd().Split('\n'));
        Assert.StartsWith($"convgrad {args[0]}: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    [Fact]
    public void AtSign_IsAValue_NotAResponseFile()
    {
        var (code, _, e) = Cli.Run("verify", "@no-such-folder");
        Assert.Equal(2, code);
        Assert.Contains("no such folder: @no-such-folder", e, StringComparison.Ordinal);
    }
}
