using System.Runtime.CompilerServices;

namespace ConvGrad.Tests;

/// <summary>The public extension point that ConvGrad.Gpu plugs into, used the way a third package would.</summary>
public class BackendExtensionTests
{
    /// <summary>A backend that delegates to the built-in engine and counts the calls, written against public API only.</summary>
    private sealed class CountingBackend : IConvBackend
    {
        private readonly IConvBackend _inner = new ConvOptions { Engine = ConvEngine.Reference }.EffectiveBackend;

        public List<ConvPass> Calls { get; } = [];

        public void Forward(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, int threads)
        {
            Calls.Add(ConvPass.Forward);
            _inner.Forward(p, x, w, b, y, threads);
        }

        public void BackwardData(ConvProblem p, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, int threads)
        {
            Calls.Add(ConvPass.BackwardData);
            _inner.BackwardData(p, dy, w, dx, threads);
        }

        public void BackwardWeight(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw, int threads)
        {
            Calls.Add(ConvPass.BackwardWeight);
            _inner.BackwardWeight(p, x, dy, dw, threads);
        }

        public string Describe(ConvProblem p, ConvPass pass) => $"counting {pass} of {p.N}x{p.C}";

        public long WorkspaceBytes(ConvProblem p, ConvPass pass, int threads) => 0;
    }

    [Fact]
    public void ACustomBackend_RunsEveryPass_OfConvAndConvTranspose()
    {
        var backend = new CountingBackend();
        var options = new ConvOptions { Backend = backend };
        Assert.Same(backend, options.EffectiveBackend);
        var g = ConvGeometry.Uniform(2, stride: 2, padding: 1);
        using var x = Tensor<float>.Zeros(1, 2, 6, 6);
        using var w = Tensor<float>.Zeros(3, 2, 3, 3);
        using var y = Conv.Forward(x, w, null, g, options);
        using var dx = Conv.BackwardData(y, w, g, x.Shape, options);
        using var dw = Conv.BackwardWeight(x, y, g, w.Shape, options);
        using var t = ConvTranspose.Forward(y, w, null, g, options);
        Assert.Equal([ConvPass.Forward, ConvPass.BackwardData, ConvPass.BackwardWeight, ConvPass.BackwardData], backend.Calls);
        var p = ConvProblem.ForConv(g, x.Shape, w.Shape);
        Assert.Equal([1, 3, 3, 3], p.YShape.ToArray());
        Assert.Equal([1, 3, 3], p.OutputSize.ToArray());
        Assert.Equal([1, 2, 2], p.Strides.ToArray());
    }

    [Theory]
    [InlineData("ConvGrad.Gpu")]
    [InlineData("ConvGrad.Explain")]
    public void TheCore_GrantsNoInternals_ToItsPackages(string assembly)
    {
        var friends = typeof(Conv).Assembly.GetCustomAttributes(typeof(InternalsVisibleToAttribute), false)
            .Cast<InternalsVisibleToAttribute>().Select(a => a.AssemblyName);
        Assert.DoesNotContain(assembly, friends);
    }

    [Fact]
    public void ExplainAndVerification_AreNotInTheCore()
    {
        Assert.DoesNotContain(typeof(Conv).Assembly.GetTypes(), t => t.Namespace is "ConvGrad.Explain" or "ConvGrad.Verification");
        Assert.DoesNotContain(typeof(Conv).Assembly.GetExportedTypes(), t => t.Name == "Shapes");
    }
}
