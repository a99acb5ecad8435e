using System.Numerics;

namespace ConvGrad.Tests;

/// <summary>
/// Every entry point that writes into a tensor the caller passes refuses an output that shares memory with an input,
/// with an <see cref="ArgumentException"/> naming both — for every pass of <see cref="Conv"/> and
/// <see cref="ConvTranspose"/>, float and double, for the same tensor and for partial overlaps (views of one buffer);
/// views that only touch are accepted and give the numbers separate tensors give.
/// </summary>
public class OverlapTests
{
    /// <summary>N = C = K = 4, 3×3 images, 3×3 kernel, padding 1: x, w, y, dy, dx and dw all have shape [4, 4, 3, 3].</summary>
    private static readonly int[] Shape = [4, 4, 3, 3];

    private static readonly ConvGeometry Same = ConvGeometry.Uniform(2, padding: 1);

    /// <summary>One write-into pass: its output's name, its inputs' names (with shapes) and how to call it.</summary>
    private sealed record Pass<T>(string Name, string Output, (string Name, int[] Shape)[] Inputs, Action<Dictionary<string, Tensor<T>>> Run)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string ToString() => Name;
    }

    private static Pass<T>[] Passes<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        var o = new ConvOptions { Threads = 2 };
        int[] bias = [4];
        return
        [
            new("Conv.Forward", "y", [("x", Shape), ("w", Shape), ("b", bias)], a => Conv.Forward(a["x"], a["w"], a["b"], Same, a["y"], o)),
            new("Conv.BackwardData", "dx", [("dy", Shape), ("w", Shape)], a => Conv.BackwardData(a["dy"], a["w"], Same, a["dx"], o)),
            new("Conv.BackwardWeight", "dw", [("x", Shape), ("dy", Shape)], a => Conv.BackwardWeight(a["x"], a["dy"], Same, a["dw"], o)),
            new("ConvTranspose.Forward", "y", [("x", Shape), ("w", Shape), ("b", bias)], a => ConvTranspose.Forward(a["x"], a["w"], a["b"], Same, a["y"], o)),
            new("ConvTranspose.BackwardData", "dx", [("dy", Shape), ("w", Shape)], a => ConvTranspose.BackwardData(a["dy"], a["w"], Same, a["dx"], o)),
            new("ConvTranspose.BackwardWeight", "dw", [("x", Shape), ("dy", Shape)], a => ConvTranspose.BackwardWeight(a["x"], a["dy"], Same, a["dw"], o)),
        ];
    }

    public static TheoryData<string, string> PassInputPairs()
    {
        var data = new TheoryData<string, string>();
        foreach (var p in Passes<float>())
        {
            foreach (var (input, _) in p.Inputs)
            {
                data.Add(p.Name, input);
            }
        }
        return data;
    }

    private static Tensor<T> Random<T>(Random rng, int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Uninitialized(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = T.CreateChecked(rng.Next(-8, 9) / 8.0);
        }
        return t;
    }

    private static void Fill<T>(Tensor<T> t, Tensor<T> from) where T : unmanaged, IFloatingPointIeee754<T> => from.ReadOnlySpan.CopyTo(t.Span);

    /// <summary>Separate tensors for every operand, seeded the same way on every call.</summary>
    private static Dictionary<string, Tensor<T>> Operands<T>(Pass<T> pass) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(3);
        var a = pass.Inputs.ToDictionary(i => i.Name, i => Random<T>(rng, i.Shape));
        a[pass.Output] = Tensor<T>.Zeros(Shape);
        return a;
    }

    private static void AssertNamesBoth(ArgumentException e, string output, string input)
    {
        Assert.Equal(output, e.ParamName);
        Assert.StartsWith($"{output} [", e.Message);
        Assert.Contains($" {input} [", e.Message);
    }

    private static void SameTensor<T>(string passName, string input) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var pass = Passes<T>().Single(p => p.Name == passName);
        var a = Operands(pass);
        int[] inputShape = pass.Inputs.Single(i => i.Name == input).Shape;
        if (!inputShape.SequenceEqual(Shape))
        {
            // The bias cannot be the output itself (its shape differs): make it the output's first elements instead.
            a[input] = Tensor<T>.ViewOf(a[pass.Output], 0, inputShape);
        }
        else
        {
            a[pass.Output] = a[input];
        }
        var before = a[input].ToArray();
        var e = Assert.Throws<ArgumentException>(() => pass.Run(a));
        AssertNamesBoth(e, pass.Output, input);
        Assert.Equal(before, a[input].ToArray());
    }

    /// <summary>The output is the input itself (for the bias: a view of the output's first K elements).</summary>
    [Theory]
    [MemberData(nameof(PassInputPairs))]
    public void OutputIsAnInput_Float_Throws(string pass, string input) => SameTensor<float>(pass, input);

    /// <inheritdoc cref="OutputIsAnInput_Float_Throws"/>
    [Theory]
    [MemberData(nameof(PassInputPairs))]
    public void OutputIsAnInput_Double_Throws(string pass, string input) => SameTensor<double>(pass, input);

    /// <summary>
    /// Input and output are views of one buffer starting <paramref name="shift"/> elements apart; they overlap when
    /// the shift is less than the input's length.
    /// </summary>
    private static void Views<T>(string passName, string input, int shift, bool overlap) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var pass = Passes<T>().Single(p => p.Name == passName);
        var separate = Operands(pass);
        pass.Run(separate);
        var expected = separate[pass.Output].ToArray();

        var a = Operands(pass);
        int[] inputShape = pass.Inputs.Single(i => i.Name == input).Shape;
        long inLength = Shapes.Product(inputShape);
        var buffer = Tensor<T>.Zeros((int)(inLength + shift + Shapes.Product(Shape)));
        var view = Tensor<T>.ViewOf(buffer, 0, inputShape);
        Fill(view, a[input]);
        a[input] = view;
        a[pass.Output] = Tensor<T>.ViewOf(buffer, shift, Shape);
        if (overlap)
        {
            var e = Assert.Throws<ArgumentException>(() => pass.Run(a));
            AssertNamesBoth(e, pass.Output, input);
        }
        else
        {
            pass.Run(a);
            Assert.Equal(expected, a[pass.Output].ToArray());
        }
    }

    [Theory]
    [MemberData(nameof(PassInputPairs))]
    public void PartialOverlap_Float_Throws(string pass, string input) => Views<float>(pass, input, shift: 1, overlap: true);

    [Theory]
    [MemberData(nameof(PassInputPairs))]
    public void PartialOverlap_Double_Throws(string pass, string input) => Views<double>(pass, input, shift: 1, overlap: true);

    /// <summary>The input's last element is the element just before the output's first: they touch but do not overlap.</summary>
    [Theory]
    [MemberData(nameof(PassInputPairs))]
    public void AdjacentViews_Float_ComputeAsSeparateTensors(string pass, string input) =>
        Views<float>(pass, input, shift: (int)Shapes.Product(Passes<float>().Single(p => p.Name == pass).Inputs.Single(i => i.Name == input).Shape), overlap: false);

    [Theory]
    [MemberData(nameof(PassInputPairs))]
    public void AdjacentViews_Double_ComputeAsSeparateTensors(string pass, string input) =>
        Views<double>(pass, input, shift: (int)Shapes.Product(Passes<double>().Single(p => p.Name == pass).Inputs.Single(i => i.Name == input).Shape), overlap: false);

    /// <summary>The overlap reported by the issue: a 3×3 "same" convolution with C = K written over its input.</summary>
    [Fact]
    public void IssueCase_ForwardOverItsInput_ThrowsInsteadOfWrongNumbers()
    {
        var rng = new Random(5);
        var x = Random<float>(rng, [2, 8, 12, 12]);
        var w = Random<float>(rng, [8, 8, 3, 3]);
        var e = Assert.Throws<ArgumentException>(() => Conv.Forward(x, w, null, Same, x));
        AssertNamesBoth(e, "y", "x");
        Assert.Contains("same tensor", e.Message);
        var dy = Random<float>(rng, [2, 8, 12, 12]);
        e = Assert.Throws<ArgumentException>(() => Conv.BackwardData(dy, w, Same, dy));
        AssertNamesBoth(e, "dx", "dy");
    }
}
