using System.Reflection;
using System.Text.RegularExpressions;
using ConvGrad.Autograd;
using ConvGrad.Cpu.Blocked;
using ConvGrad.Nn;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace ConvGrad.Tests;

/// <summary>
/// The user-defined functions of docs/autograd.md (SiLU and a LeakyReLU with a learnable slope), compiled from the doc
/// as printed against the public API only, pass float64 finite-difference checks inside a ResNet residual block on
/// NCHW and on channel-blocked activations, and agree in float32 with the block run in NCHW.
/// </summary>
public partial class UserFunctionTests
{
    private const string ImplicitUsings =
        "global using System; global using System.Collections.Generic; global using System.IO; global using System.Linq; " +
        "global using System.Net.Http; global using System.Threading; global using System.Threading.Tasks;";

    [GeneratedRegex(@"^```csharp\r?\n(.*?)^```", RegexOptions.Singleline | RegexOptions.Multiline)]
    private static partial Regex CSharpBlock();

    private static readonly Lazy<Assembly> s_doc = new(CompileDoc);

    /// <summary>docs/autograd.md's snippets as one console program (the classes and the top-level usage).</summary>
    private static Assembly CompileDoc()
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var trees = CSharpBlock().Matches(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "docs", "autograd.md")))
            .Select(m => CSharpSyntaxTree.ParseText(m.Groups[1].Value, parse))
            .Prepend(CSharpSyntaxTree.ParseText(ImplicitUsings, parse));
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
            .Append(typeof(Conv).Assembly.Location)
            .Distinct()
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create("AutogradDocSnippets", trees, references,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        using var output = new MemoryStream();
        var result = compilation.Emit(output);
        var errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString());
        Assert.True(result.Success, "docs/autograd.md's snippets do not compile:\n" + string.Join("\n", errors));
        return Assembly.Load(output.ToArray());
    }

    private static Function<T> Make<T>(string name) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
        (Function<T>)Activator.CreateInstance(s_doc.Value.GetType(name + "`1", throwOnError: true)!.MakeGenericType(typeof(T)))!;

    [Fact]
    public void TheDocSnippets_Compile_AndRun()
    {
        Assert.Equal(3, CSharpBlock().Matches(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "docs", "autograd.md"))).Count);
        var main = s_doc.Value.EntryPoint!;
        var stdout = Console.Out;
        using var text = new StringWriter();
        Console.SetOut(text);
        try
        {
            main.Invoke(null, [Array.Empty<string>()]);
        }
        finally
        {
            Console.SetOut(stdout);
        }
        Assert.StartsWith("Contiguous 2x20x8x8 d(slope) = ", text.ToString());
    }

    /// <summary>
    /// A torchvision BasicBlock with the user's activations in place of ReLU:
    /// <c>act2(bn2(conv2(act1(bn1(conv1(x))))) + x)</c>; with a blocked <paramref name="layout"/> every activation
    /// (the block's input and each batch norm's output) is channel-blocked, as in a model that keeps its activations
    /// blocked, and the output goes back to NCHW at the edge; with no layout, each activation stays as its layer made it.
    /// </summary>
    private sealed class Block<T> : Module<T> where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        private readonly BasicBlock<T> _block;
        private readonly Function<T> _first, _second;
        private readonly MemoryFormat? _layout;

        public Block(int channels, Random rng, MemoryFormat? layout, ConvOptions? options = null)
        {
            _block = RegisterModule("block", new BasicBlock<T>(channels, channels, 1, rng, options));
            Slope = RegisterParameter("slope", new Parameter<T>(Tensor<T>.FromArray([T.CreateChecked(0.2)], 1)));
            _first = Make<T>("Silu");
            _second = Make<T>("LeakyRelu");
            _layout = layout;
        }

        public Parameter<T> Slope { get; }

        public BasicBlock<T> Inner => _block;

        public override Variable<T> Forward(Variable<T> x)
        {
            x = InLayout(x);
            var h = InLayout(_block.Bn1.Forward(_block.Conv1.Forward(x)));
            h = _first.Apply(h);
            h = InLayout(_block.Bn2.Forward(_block.Conv2.Forward(h)));
            return Functional.ToNchw(_second.Apply(h + x, Slope));
        }

        /// <summary>An activation in the block's layout; with none, as the layers made it.</summary>
        private Variable<T> InLayout(Variable<T> v) => _layout is { } f ? Functional.ToFormat(v, f) : v;
    }

    [Theory]
    [InlineData(MemoryFormat.Contiguous)]
    [InlineData(MemoryFormat.ChannelsBlocked8)]
    [InlineData(MemoryFormat.ChannelsBlocked16)]
    public void SiluAndLeakyRelu_InAResidualBlock_PassFiniteDifferences(MemoryFormat layout)
    {
        // 12 channels: a channel tail in both block sizes.
        var x = NnGradCheck.Random(new Random(5), 2, 12, 5, 5);
        var block = new Block<double>(12, new Random(6), layout);
        NnGradCheck.Check(() => block, x, tolerance: 1e-6, maxSamples: 40);
    }

    [SkippableFact]
    public void SiluAndLeakyRelu_InABlockThatKeepsActivationsBlocked_MatchTheNchwBlock()
    {
        var options = new ConvOptions { Threads = 2 };
        Skip.If(ConvGrad.Cpu.ConvPlanner.BlockSize(options) == 0, "no blocked kernels on this machine");
        var input = Tensor<float>.Zeros(2, 12, 6, 6);
        var rng = new Random(7);
        foreach (ref var v in input.Span)
        {
            v = (float)(rng.NextDouble() * 2 - 1);
        }
        var runs = new List<(float[] Y, float[] DW, float DSlope)>();
        foreach (bool keep in new[] { true, false })
        {
            var block = new Block<float>(12, new Random(8), null, options);
            BlockedActivations.Keep(block, keep);
            var h = block.Inner.Conv1.Forward(new Variable<float>(input.Clone()));
            Assert.Equal(keep, h.IsChannelBlocked);
            var x = new Variable<float>(input.Clone(), requiresGrad: true);
            var y = block.Forward(x);
            Functional.Sum(y * y).Backward();
            runs.Add((y.Value.ToArray(), block.Inner.Conv1.Weight.Grad!.ToArray(), block.Slope.Grad!.Span[0]));
        }
        AssertClose(runs[1].Y, runs[0].Y);
        AssertClose(runs[1].DW, runs[0].DW);
        Assert.Equal(runs[1].DSlope, runs[0].DSlope, 2e-3f * (1 + Math.Abs(runs[1].DSlope)));
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scale = 1 + expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4f * scale, $"element {i}: NCHW {expected[i]}, blocked {actual[i]}");
        }
    }
}
