namespace ConvGrad.Explain;

/// <summary>An explanation as format-neutral blocks; <see cref="IDocumentRenderer"/>s turn it into text, markdown or LaTeX.</summary>
internal sealed record Document(string Title, IReadOnlyList<Block> Blocks);

/// <summary>One block of a <see cref="Document"/>.</summary>
internal abstract record Block;

/// <summary>A section heading.</summary>
internal sealed record Heading(string Text) : Block;

/// <summary>Prose in plain Unicode (·, ⋆, −, Σ ...); renderers escape or translate the symbols.</summary>
internal sealed record Paragraph(string Text) : Block;

/// <summary>One line that is never wrapped (the verification verdict, which scripts grep for).</summary>
internal sealed record VerdictLine(string Text) : Block;

/// <summary>A tensor element such as <c>I(1,2)</c>: a name and its already-formatted indices.</summary>
internal sealed record Sym(string Name, IReadOnlyList<string> Indices);

/// <summary>The product of two tensor elements.</summary>
internal sealed record Product(Sym A, Sym B);

/// <summary>A term that the index constraint removes, and the constraint in words.</summary>
internal sealed record Dropped(Product Term, string Reason);

/// <summary><c>Lhs = Σ Rhs</c> (0 when empty), with the dropped terms and an optional note.</summary>
internal sealed record Equation(Sym Lhs, IReadOnlyList<Product> Rhs, IReadOnlyList<Dropped> Dropped, string? Note);

/// <summary>A list of element formulas, one per line.</summary>
internal sealed record EquationList(IReadOnlyList<Equation> Equations) : Block;

/// <summary>A matrix drawn for the case at hand; <c>null</c> cells are zeros. 3-D tensors are drawn slice by slice.</summary>
internal sealed record MatrixBlock(string Name, IReadOnlyList<MatrixSlice> Slices) : Block;

/// <summary>One 2-D slice of a <see cref="MatrixBlock"/> (1-D tensors are one row).</summary>
internal sealed record MatrixSlice(string? Label, IReadOnlyList<IReadOnlyList<Sym?>> Rows);

/// <summary>Turns a <see cref="Document"/> into one output format.</summary>
internal interface IDocumentRenderer
{
    string Render(Document document);
}
