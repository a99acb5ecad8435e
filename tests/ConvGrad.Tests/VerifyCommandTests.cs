using System.Text.Json.Nodes;

namespace ConvGrad.Tests;

public class VerifyCommandTests
{
    [Fact]
    public void BundledCases_AllPass()
    {
        var (code, output, _) = Cli.Run("verify", TestPaths.GoldenDir, "--engine", "all");
        Assert.Equal(0, code);
        Assert.EndsWith("278 passed, 0 failed", output.TrimEnd());
    }

    [Fact]
    public void MalformedAndWrongCases_FailWithoutCrashing()
    {
        var dir = Cli.TempDir();
        try
        {
            string seed = Path.Combine(TestPaths.GoldenDir, "conv2d-seed-005.json");
            File.Copy(seed, Path.Combine(dir.FullName, "good.json"));
            File.WriteAllText(Path.Combine(dir.FullName, "broken.json"), "{ \"op\": \"conv\", ");
            File.WriteAllText(Path.Combine(dir.FullName, "missing.json"), "{ \"op\": \"conv\", \"dims\": 2 }");
            var node = JsonNode.Parse(File.ReadAllText(seed))!;
            node["y"]![0] = node["y"]![0]!.GetValue<double>() + 1;
            File.WriteAllText(Path.Combine(dir.FullName, "wrong.json"), node.ToJsonString());
            var shortX = JsonNode.Parse(File.ReadAllText(seed))!;
            shortX["x"]!.AsArray().RemoveAt(0);
            File.WriteAllText(Path.Combine(dir.FullName, "short.json"), shortX.ToJsonString());

            var (code, output, _) = Cli.Run("verify", dir.FullName);
            Assert.Equal(1, code);
            Assert.EndsWith("1 passed, 4 failed", output.TrimEnd());
            Assert.Contains("FAIL broken.json: not valid JSON", output);
            Assert.Contains("FAIL missing.json: missing field", output);
            Assert.Contains("FAIL conv2d-seed-005 [", output);
            Assert.Contains(": y 1.00e+0", output);
            Assert.Contains("data has 15 elements", output);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("verify")]
    [InlineData("verify", "/no/such/folder")]
    [InlineData("verify", ".", "--engine", "gpu9000")]
    [InlineData("verify", ".", "--bogus", "1")]
    [InlineData("verify", ".", "--threads", "x")]
    [InlineData("nosuchcommand")]
    public void BadUsage_ExitsWith2_AndOneLine(params string[] args)
    {
        var (code, _, err) = Cli.Run(args);
        Assert.Equal(2, code);
        Assert.Single(err.TrimEnd().Split('\n'));
    }
}
