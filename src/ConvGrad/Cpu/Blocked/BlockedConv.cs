using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ConvGrad.Cpu.Kernels;

namespace ConvGrad.Cpu.Blocked;

/// <summary>
/// The blocked-layout engine for one problem: the geometry, the weights reblocked once (forward and transposed), and
/// the three passes on <see cref="BlockedTensor"/>s. Make it once per layer shape, call <see cref="SetWeights"/> when
/// the weights change, and run passes with no per-call allocation. The block (16 or 8) picks the kernels
/// (<see cref="Vector512{T}"/> or <see cref="Vector256{T}"/>).
/// </summary>
internal sealed unsafe class BlockedConvPlan
{
    /// <summary>Problems below this many multiply-adds run on one thread.</summary>
    public const long ParallelThreshold = 1 << 18;

    /// <summary>With fewer dW tasks than this, the rows are split into fixed chunks summed in order (see <see cref="WeightChunks"/>).</summary>
    public const int MinWeightTasks = 4;

    /// <summary>
    /// Most floats of dW accumulators one thread keeps live while it sweeps a chunk of rows (384 KiB: with the chunk's x
    /// and dY, within a 1 MiB L2; 4 MiB of them, as before, spilled to L3 on every chunk).
    /// </summary>
    public const int AccumulatorBudget = 96 * 1024;

    /// <summary>Bytes of x and dY one chunk of dW rows should span, to stay in L2 while every task of a group reads it.</summary>
    private const long ChunkBytes = 384 * 1024;

    private AlignedFloats? _forward, _transposed, _bias, _flat;

    // The weights the arrays above were reblocked from, and which arrays are current for them (see Track).
    private float[]? _source;
    private bool _forwardCurrent, _transposedCurrent, _flatCurrent;

    // The work objects of the passes, made once and re-aimed per call, so a pass allocates nothing (one call at a time per plan).
    private readonly Pass _pass;
    private readonly Weights _weights;
    private readonly FlatPass _flatPass;

    // Strided 1×1 backward-weight: the dense panel of x and the unit-stride plan that runs on it (made on first use).
    private readonly DenseSubsample? _subsample;
    private BlockedConvPlan? _dense;
    private AlignedFloats? _panel;

    // Forward's copy of x and backward-data's copy of dY with the width padding written in (see ConvPlanner.PadsColumns).
    private readonly PaddedColumns? _paddedX, _paddedDy;

    /// <summary>Creates the plan; throws <see cref="ArgumentException"/> when the blocked kernels do not cover the problem.</summary>
    public BlockedConvPlan(ConvProblem p, int blockSize)
    {
        if (blockSize is not (8 or 16))
        {
            throw new ArgumentException($"blockSize must be 8 or 16; got {blockSize}", nameof(blockSize));
        }
        if (!BlockedGeometry.Applies(p, blockSize))
        {
            throw new ArgumentException(
                $"the blocked kernels need whole channel blocks per group or depthwise without a multiplier: groups {p.Groups} with {p.Cg} input and {p.Kg} output channels per group are not multiples of {blockSize}",
                nameof(p));
        }
        Problem = p;
        Geometry = new BlockedGeometry(p, blockSize);
        _pass = new Pass(this);
        _weights = new Weights(this);
        _flatPass = new FlatPass(this);
        _subsample = ConvPlanner.UsesDensePanel(p) ? new DenseSubsample(Geometry) : null;
        _paddedX = ConvPlanner.PadsColumns(p, Geometry, ConvPass.Forward) ? PaddedColumns.Make(Geometry, ConvPass.Forward) : null;
        _paddedDy = ConvPlanner.PadsColumns(p, Geometry, ConvPass.BackwardData) ? PaddedColumns.Make(Geometry, ConvPass.BackwardData) : null;
    }

    /// <summary>The problem.</summary>
    public ConvProblem Problem { get; }

    /// <summary>The problem as the kernels see it.</summary>
    public BlockedGeometry Geometry { get; }

    /// <summary>Channels per block.</summary>
    public int BlockSize => Geometry.B;

    /// <summary>The kernel's name, e.g. <c>direct-blocked16 avx512 14x2</c> (pixels × output blocks of the register tile).</summary>
    public string Name(ConvPass pass)
    {
        var g = Geometry;
        string isa = g.B == 16 ? "avx512" : "avx2";
        int max = g.B == 16 ? Isa512.MaxPixels : Isa256.MaxPixels;
        int u = BlockedGeometry.TileWidth(pass == ConvPass.BackwardData ? (g.In[2] + g.S[2] - 1) / g.S[2] : g.Out[2], max);
        if (g.Depthwise)
        {
            if (pass != ConvPass.BackwardWeight && ConvPlanner.DepthwisePlanes(g, pass))
            {
                return $"direct-blocked{g.B} {isa} depthwise {DepthwiseRowPairs<Isa512, Vector512<float>>.PlanesPixels(g, pass)}px planes" + (pass == ConvPass.BackwardData ? " flipped" : "");
            }
            if (pass == ConvPass.Forward)
            {
                // The row-pair tiles cover the interior columns; the border columns run per pixel.
                var (lo, hi) = KernelRows.InteriorColumns(g);
                u = hi > lo ? BlockedGeometry.TileWidth(hi - lo, max) : 1;
            }
            return pass == ConvPass.BackwardWeight ? $"direct-blocked{g.B} {isa} depthwise dw" + (ConvPlanner.DepthwiseWeightInRegisters(g) ? $" {g.Ker[1]}x{g.Ker[2]} in registers" : "") : $"direct-blocked{g.B} {isa} depthwise {u}x2rows" + (pass == ConvPass.BackwardData ? " phases" : "");
        }
        return pass switch
        {
            ConvPass.Forward when _subsample is not null && ConvPlanner.UsesDensePanelForward(Problem, g.B) => $"direct-blocked{g.B} {isa} {DenseName(g, max, g.KbG, g.CbG)} dense",
            ConvPass.Forward => $"direct-blocked{g.B} {isa} {u}x{Math.Min(BlockedGeometry.OutBlocksPerTile(u, max, g.KbG), g.KbG)}{Chunked(g, BlockedGeometry.OutBlocksPerTile(u, max, g.KbG), g.CbG)}{(_paddedX is null ? "" : " padded")}",
            ConvPass.BackwardData when ConvPlanner.UsesFewChannelDot(Problem) => $"direct-dot{g.B} {isa} dx {FewChannelDotPixels(g)}x{g.C}",
            ConvPass.BackwardData when ConvPlanner.UsesDensePanel(Problem) => $"direct-blocked{g.B} {isa} {DenseName(g, max, g.CbG, g.KbG)} dense",
            ConvPass.BackwardData => $"direct-blocked{g.B} {isa} {u}x{Math.Min(BlockedGeometry.OutBlocksPerTile(u, max, g.CbG), g.CbG)} phases{Chunked(g, BlockedGeometry.OutBlocksPerTile(u, max, g.CbG), g.KbG)}{(_paddedDy is null ? "" : " padded")}",
            _ => $"direct-blocked{g.B} {isa} dw {WeightTileName(g)}" + (ConvPlanner.UsesDensePanel(Problem) ? " dense" : ""),
        };
    }

    /// <summary>Pixels per register tile of the few-channel dX kernel (<see cref="FewChannelDotKernels{TI, TV}"/>).</summary>
    private static int FewChannelDotPixels(BlockedGeometry g) =>
        g.B == 16 ? FewChannelDotKernels<Isa512, Vector512<float>>.Pixels(g.C) : FewChannelDotKernels<Isa256, Vector256<float>>.Pixels(g.C);

    /// <summary>The name's suffix for a reduction over input blocks in chunks (<see cref="BlockedGeometry.ReductionChunks"/>), e.g. <c> chunked3</c>; empty for one.</summary>
    private static string Chunked(BlockedGeometry g, int outBlocks, int inBlocks)
    {
        int chunks = BlockedGeometry.ReductionChunks(outBlocks, inBlocks, g.Taps, g.B);
        return chunks > 1 ? $" chunked{chunks}" : "";
    }

    /// <summary>
    /// The dense tile (y or dX') of a strided 1×1 layer, <paramref name="blocks"/> the pass's output blocks and
    /// <paramref name="reduced"/> the blocks it sums over: its rows are whole images (the unit-stride plan's flattened rows).
    /// </summary>
    private static string DenseName(BlockedGeometry g, int max, int blocks, int reduced)
    {
        int u = BlockedGeometry.TileWidth(g.OutSpatial, max);
        return $"{u}x{Math.Min(BlockedGeometry.OutBlocksPerTile(u, max, blocks), blocks)}{Chunked(g, BlockedGeometry.OutBlocksPerTile(u, max, blocks), reduced)}";
    }

    /// <summary>The backward-weight register tile of the first task: input lanes per call × output blocks, after the kernel rows per call when more than one.</summary>
    private static string WeightTileName(BlockedGeometry g)
    {
        int blocks = Math.Min(g.WeightOutBlocks, g.KbG);
        int rows = g.B == 16 ? DirectKernels<Isa512, Vector512<float>>.WeightKernelRows(g, blocks) : DirectKernels<Isa256, Vector256<float>>.WeightKernelRows(g, blocks);
        int chunks = g.B == 16 ? DirectKernels<Isa512, Vector512<float>>.WeightLaneChunks(blocks, rows) : DirectKernels<Isa256, Vector256<float>>.WeightLaneChunks(blocks, rows);
        return $"{(rows > 1 ? $"{rows}x" : string.Empty)}{(g.B + chunks - 1) / chunks}x{blocks}";
    }

    /// <summary>One paragraph on what the kernel of <paramref name="pass"/> does, for <c>explain</c> and bench.</summary>
    public string Describe(ConvPass pass)
    {
        var g = Geometry;
        string layout = $"activations in the channel-blocked layout nC{(Problem.Dims == 3 ? "d" : "")}hw{g.B}c (one {g.B * 32}-bit vector holds {g.B} channels of a pixel)";
        if (g.Depthwise)
        {
            return pass switch
            {
                ConvPass.Forward or ConvPass.BackwardData when ConvPlanner.DepthwisePlanes(g, pass) => $"{Name(pass)}: depthwise {(pass == ConvPass.Forward ? "forward" : "unit-stride backward-data (dY against the flipped kernel)")} on {layout}; one call per image and channel block walks the plane row by row, {DepthwiseRowPairs<Isa512, Vector512<float>>.PlanesPixels(g, pass)} output pixels at a time (one FMA chain each, each tap's weight vector loaded once for them, the input read in place), the padding's rows and border taps skipped (nothing is staged).",
                ConvPass.Forward => $"{Name(pass)}: depthwise forward on {layout}; the block's channels are the lanes, so each tap is one weight vector times one input vector per output pixel, register-blocked over a row of pixels and two output rows, so each loaded input row serves every kernel row of both; the padding's border columns skip their missing taps (nothing is staged).",
                ConvPass.BackwardData => $"{Name(pass)}: depthwise backward-data on {layout}, two dX rows at a time (each dY row loaded once for both), by width stride phases with only the taps that reach each phase; no zero insertion, and dX positions no output reads are written as exact zeros.",
                _ when ConvPlanner.DepthwiseWeightInRegisters(g) => $"{Name(pass)}: depthwise backward-weight on {layout}; one task per channel block keeps all {g.Taps} taps' sums in registers over every image, row and column (one dY load per pixel feeds one FMA per tap, the input read in place, the padding's taps skipped), so dW is bitwise the same for any thread count.",
                _ => $"{Name(pass)}: depthwise backward-weight on {layout}; one task per channel block sums every image and output-row pair in order, a register tile per source row serving the kernel rows of both output rows (each input vector loaded once for them), so dW is bitwise the same for any thread count.",
            };
        }
        string groups = g.G == 1 ? "" : $" {g.G} groups of {g.CbG} input and {g.KbG} output channel blocks.";
        string flat = g.Flattened ? " The 1x1 stride-1 kernel runs as a GEMM over all pixels of an image, its spatial axes flattened." : "";
        string dense = ConvPlanner.UsesDensePanel(Problem) ? " Strided 1x1: the sampled pixels of x are gathered once into a dense panel, and the unit-stride kernel runs on it over whole images." : "";
        return pass switch
        {
            ConvPass.Forward when _subsample is not null && ConvPlanner.UsesDensePanelForward(Problem, g.B) => $"{Name(pass)}: strided 1x1 forward on {layout}: the sampled pixels of x gathered once into a dense panel, then the unit-stride kernel over each image's flattened pixels with the forward weight blocks.{groups}",
            ConvPass.Forward => $"{Name(pass)}: direct forward on {layout} with weights reblocked once as OIhw{g.B}i{g.B}o; a register tile of output pixels × 2 or 4 output-channel blocks; per input channel and tap, one weight vector per block, one broadcast per pixel, one FMA per accumulator. No im2col and no packing; {(_paddedX is null ? "tiles at the padding read a zero-padded copy of just their columns" : "x is first copied once with its width padding written in (a short row's every tile reaches the padding, so staging each tile's columns per output-block group would cost more)")}.{ChunkedText(pass)}{flat}{groups}",
            ConvPass.BackwardData when ConvPlanner.UsesFewChannelDot(Problem) => $"{Name(pass)}: backward-data of a first layer ({Problem.C} input channel(s), the rest of dX's block zero) on {layout}, computed as dot products over the output channels instead of broadcasting dY into mostly-empty input-channel vectors: dX[n,c,x] = Σ_kb Σ_(r in T(x)) hsum(W[kb·{g.B}.., c, r] ⊙ dY[n, kb, (x+p−r·d)/s]), T(x) the taps of x's stride phase whose source lies inside dY (no zero insertion); a register tile of {FewChannelDotPixels(g)} pixels of one phase × {Problem.C} channel(s) of vector accumulators over every tap and output block, then one horizontal sum per pixel and channel.",
            ConvPass.BackwardData when ConvPlanner.UsesDensePanel(Problem) => $"{Name(pass)}: strided 1x1 backward-data on {layout}: the unit-stride dX' of the sampled pixels over whole images (a GEMM over each image's flattened pixels with the transposed weight blocks) into a dense panel, scattered to the sampled positions with exact zeros between.{groups}",
            ConvPass.BackwardData => $"{Name(pass)}: direct backward-data on {layout} with the transposed weight blocks; per dX row and width stride phase, only the kernel taps that reach the phase, reading dY with stride 1: no zero insertion, no col2im, and dX positions no output reads come out exactly 0.{(_paddedDy is null ? "" : " dY is first copied once with its width padding written in, so no tile stages its columns.")}{ChunkedText(pass)}{flat}{groups}",
            _ => $"{Name(pass)}: direct backward-weight on {layout}; the dW block of {g.WeightOutBlocks} output × 1 input channel blocks is the register accumulator set (tiles of {WeightTileName(g)} [kernel rows ×] input lanes × output blocks), one task per block summing all images and rows in order (rows swept in L2-sized chunks across tasks), so dW is bitwise the same for any thread count; with fewer than {MinWeightTasks} tasks the rows split into fixed chunks added in order.{dense}{groups}",
        };
    }

    /// <summary>The description's sentence on a chunked reduction (forward or dX), or empty.</summary>
    private string ChunkedText(ConvPass pass) => Name(pass).Contains(" chunked", StringComparison.Ordinal)
        ? " The weights of a tile's output blocks exceed L2, so the sum over input blocks runs in chunks: each chunk over every row of a thread's range while its weights stay in L2, the partial sums kept in the output and continued exactly (the same bits as one pass)."
        : "";

    /// <summary>Reblocks the weight <c>[K, C/G, k...]</c> and the optional bias <c>[K]</c> (empty for none).</summary>
    public void SetWeights(ReadOnlySpan<float> w, ReadOnlySpan<float> bias)
    {
        CheckLength(w.Length, Problem.WeightShape, "w");
        if (!bias.IsEmpty && bias.Length != Problem.K)
        {
            throw new ArgumentException($"bias has {bias.Length} elements but the layer has {Problem.K} output channels", nameof(bias));
        }
        Reblock(ConvPass.Forward, w, bias);
        Reblock(ConvPass.BackwardData, w, bias);
    }

    /// <summary>
    /// Reblocks only what <paramref name="pass"/> needs (forward: weights and bias; backward-data: the transposed
    /// weights; backward-weight: nothing), into the arrays of an earlier call when there are any: after the first call
    /// of each pass this allocates nothing. Lengths are checked by the caller. Arrays already reblocked from weights
    /// bitwise equal to <paramref name="w"/> are kept (<see cref="Track"/>): a caller that passes the same weights call
    /// after call (the NCHW API, whose plan is cached per shape) pays one compare instead of a reblock.
    /// </summary>
    internal void Reblock(ConvPass pass, ReadOnlySpan<float> w, ReadOnlySpan<float> bias)
    {
        if (pass != ConvPass.BackwardWeight)
        {
            Track(w);
        }
        if (Geometry.Depthwise)
        {
            if (pass != ConvPass.BackwardWeight && !_forwardCurrent)
            {
                _forward = _transposed = BlockedWeights.Depthwise(Geometry, w, _forward);
                _forwardCurrent = _transposedCurrent = true;
            }
        }
        else if (pass == ConvPass.Forward || (pass == ConvPass.BackwardData && ConvPlanner.UsesFewChannelDot(Problem)))
        {
            // (The few-channel dX kernel reads the forward blocks' rows: a vector of output channels per input channel and tap.)
            if (!_forwardCurrent)
            {
                _forward = BlockedWeights.Forward(Geometry, w, _forward);
                _forwardCurrent = true;
            }
            if (pass == ConvPass.Forward && ReadsNchw && !_flatCurrent)
            {
                _flat = BlockedWeights.Flat(Geometry, w, _flat);
                _flatCurrent = true;
            }
        }
        else if (pass == ConvPass.BackwardData && !_transposedCurrent)
        {
            _transposed = BlockedWeights.Transposed(Geometry, w, _transposed);
            _transposedCurrent = true;
        }
        if (pass == ConvPass.Forward)
        {
            _bias = bias.IsEmpty ? null : BlockedWeights.Bias(Geometry, bias, _bias);
        }
    }

    /// <summary>Reblocks only what the first-layer forward needs (its weights and the bias), into the arrays of an earlier call (kept when the weights are unchanged, as <see cref="Reblock"/>).</summary>
    internal void ReblockFlat(ReadOnlySpan<float> w, ReadOnlySpan<float> bias)
    {
        RequireFlat();
        Track(w);
        if (!_flatCurrent)
        {
            _flat = BlockedWeights.Flat(Geometry, w, _flat);
            _flatCurrent = true;
        }
        _bias = bias.IsEmpty ? null : BlockedWeights.Bias(Geometry, bias, _bias);
    }

    /// <summary>
    /// Keeps a copy of the weights the reblocked arrays are made from: when <paramref name="w"/> differs from it in any
    /// bit (a bytewise compare, so -0 and NaN payloads count), it becomes the copy and every reblocked array is stale.
    /// The copy is made once per plan (the length is the problem's); a changed weight costs a compare that stops at the
    /// first difference and a copy, beside its reblock.
    /// </summary>
    private void Track(ReadOnlySpan<float> w)
    {
        if (_source is not null && MemoryMarshal.AsBytes(w).SequenceEqual(MemoryMarshal.AsBytes(_source.AsSpan())))
        {
            return;
        }
        _source ??= GC.AllocateUninitializedArray<float>(w.Length);
        w.CopyTo(_source);
        _forwardCurrent = _flatCurrent = _transposedCurrent = false;
    }

    /// <summary>y = x ⋆ w + b.</summary>
    public void Forward(BlockedTensor x, BlockedTensor y, int threads)
    {
        Check(x, Problem.InputShape, nameof(x));
        Check(y, Problem.OutputShape, nameof(y));
        Forward(Ptr(x), Ptr(y), threads);
    }

    /// <summary>dx = ∂L/∂x; every dX element (and the zero channel tail) is written.</summary>
    public void BackwardData(BlockedTensor dy, BlockedTensor dx, int threads)
    {
        Check(dy, Problem.OutputShape, nameof(dy));
        Check(dx, Problem.InputShape, nameof(dx));
        BackwardData(Ptr(dy), Ptr(dx), threads);
    }

    /// <summary>dw = ∂L/∂w into <paramref name="dw"/> <c>[K, C/G, k...]</c>; bitwise the same for any thread count.</summary>
    public void BackwardWeight(BlockedTensor x, BlockedTensor dy, Span<float> dw, int threads)
    {
        Check(x, Problem.InputShape, nameof(x));
        Check(dy, Problem.OutputShape, nameof(dy));
        CheckLength(dw.Length, Problem.WeightShape, nameof(dw));
        fixed (float* pdw = dw)
        {
            BackwardWeight(Ptr(x), Ptr(dy), pdw, threads);
        }
    }

    /// <summary>
    /// Whether the first-layer kernels apply (<see cref="ForwardFromNchw(ReadOnlySpan{float}, BlockedTensor, int)"/>,
    /// <see cref="BackwardWeightFromNchw(ReadOnlySpan{float}, BlockedTensor, Span{float}, int)"/>): one group and 1-3 input
    /// channels, read as plain NCHW instead of a mostly-zero channel block.
    /// </summary>
    public bool ReadsNchw => FlatInput.Applies(Problem);

    /// <summary>The first-layer kernel's name, e.g. <c>direct-flat16 avx512 14x2</c> (forward: pixels × output blocks; dW: <c>dw</c> taps × output blocks).</summary>
    public string FlatName(ConvPass pass)
    {
        var g = Geometry;
        string isa = g.B == 16 ? "avx512" : "avx2";
        if (pass == ConvPass.BackwardWeight)
        {
            var (blocks, rows, taps) = FlatInput.WeightTile(g);
            return $"direct-flat{g.B} {isa} dw {rows}x{taps}x{blocks}";
        }
        var (u, n) = g.B == 16 ? FlatInputKernels<Isa512, Vector512<float>>.ForwardTile(g) : FlatInputKernels<Isa256, Vector256<float>>.ForwardTile(g);
        return $"direct-flat{g.B} {isa} {u}x{n}";
    }

    /// <summary>One paragraph on the first-layer kernel of <paramref name="pass"/> (forward or backward-weight).</summary>
    public string FlatDescribe(ConvPass pass) => pass == ConvPass.BackwardWeight
        ? $"{FlatName(pass)}: first-layer backward-weight from the plain NCHW input ({Problem.C} channel(s), not padded to a block) and blocked dY; a task owns dW of up to 4 output blocks for one input channel and one (or, for kernels of up to 3 rows, every) kernel row, the kernel rows × width taps × blocks in registers along each output row, and sums every image and row in order (with fewer than 8 tasks, in fixed row chunks added in order), so dW is bitwise the same for any thread count."
        : $"{FlatName(pass)}: first-layer forward from the plain NCHW input ({Problem.C} channel(s), not padded to a block) into the blocked layout; a register tile of output pixels × output-channel blocks, per channel and tap one weight vector per block and one broadcast input value per pixel; rows at the padding read a zero-padded copy of that row.";

    /// <summary>y = x ⋆ w + b with <paramref name="x"/> plain NCHW (<see cref="ReadsNchw"/> must hold) and <paramref name="y"/> blocked.</summary>
    public void ForwardFromNchw(ReadOnlySpan<float> x, BlockedTensor y, int threads)
    {
        CheckLength(x.Length, Problem.InputShape, nameof(x), "input");
        Check(y, Problem.OutputShape, nameof(y));
        fixed (float* px = x)
        {
            ForwardFromNchw(px, Ptr(y), threads);
        }
    }

    /// <summary>dw = ∂L/∂w from plain NCHW <paramref name="x"/> (<see cref="ReadsNchw"/> must hold) and blocked <paramref name="dy"/>; bitwise the same for any thread count.</summary>
    public void BackwardWeightFromNchw(ReadOnlySpan<float> x, BlockedTensor dy, Span<float> dw, int threads)
    {
        CheckLength(x.Length, Problem.InputShape, nameof(x), "input");
        Check(dy, Problem.OutputShape, nameof(dy));
        CheckLength(dw.Length, Problem.WeightShape, nameof(dw));
        fixed (float* px = x)
        fixed (float* pdw = dw)
        {
            BackwardWeightFromNchw(px, Ptr(dy), pdw, threads);
        }
    }

    /// <summary>First-layer forward on memory that will not move (NCHW x, blocked y; shapes checked by the caller); no allocation.</summary>
    internal void ForwardFromNchw(float* x, float* y, int threads)
    {
        RequireFlat();
        var w = _flat ?? throw new InvalidOperationException("SetWeights must be called before a pass that needs the weights");
        KernelRecord.RanBlocked(this, ConvPass.Forward, true);
        var g = Geometry;
        int step = g.B == 16 ? FlatInputKernels<Isa512, Vector512<float>>.ForwardTile(g).Blocks : FlatInputKernels<Isa256, Vector256<float>>.ForwardTile(g).Blocks;
        _flatPass.Set(ConvPass.Forward, x, w.Pointer, _bias is null ? null : _bias.Pointer, y);
        Execute(_flatPass, Parts(threads, (long)g.N * g.Out[0] * g.Out[1] * ((g.Kb + step - 1) / step)));
    }

    /// <summary>
    /// First-layer backward-weight on memory that will not move (NCHW x, dW <c>[K, C, k...]</c>, dy blocked or, with
    /// <paramref name="dyNchw"/>, plain NCHW: gathered into blocks one output row at a time, the same sums); no allocation once warm.
    /// </summary>
    internal void BackwardWeightFromNchw(float* x, float* dy, float* dw, int threads, bool dyNchw = false)
    {
        RequireFlat();
        KernelRecord.RanBlocked(this, ConvPass.BackwardWeight, true);
        var g = Geometry;
        int units = FlatInput.WeightTasks(g) * FlatInput.WeightChunks(g);
        _flatPass.Set(ConvPass.BackwardWeight, x, dy, null, dw, dyNchw);
        Execute(_flatPass, Parts(threads, units));
        if (FlatInput.WeightChunks(g) > 1)
        {
            if (g.B == 16)
            {
                FlatInputKernels<Isa512, Vector512<float>>.ReduceWeights(g, _flatPass.Partials, dw);
            }
            else
            {
                FlatInputKernels<Isa256, Vector256<float>>.ReduceWeights(g, _flatPass.Partials, dw);
            }
        }
    }

    private void RequireFlat()
    {
        if (!ReadsNchw)
        {
            throw new InvalidOperationException($"the first-layer kernels need one group and at most {FlatInput.MaxChannels} input channels; this layer has {Problem.C} in {Problem.Groups} group(s)");
        }
    }

    /// <summary>Forward on blocked memory that will not move (shapes checked by the caller); no allocation.</summary>
    internal void Forward(float* x, float* y, int threads)
    {
        var w = _forward ?? throw new InvalidOperationException("SetWeights must be called before a pass that needs the weights");
        KernelRecord.RanBlocked(this, ConvPass.Forward, false);
        if (_subsample is not null && ConvPlanner.UsesDensePanelForward(Problem, Geometry.B))
        {
            // Strided 1×1: gather the sampled pixels once, then the unit-stride kernel over whole images (a 1×1
            // layer's forward blocks are the same for both).
            var g = Geometry;
            _dense ??= new BlockedConvPlan(DenseSubsample.Dense(Problem), g.B);
            _dense._forward = w;
            _dense._bias = _bias;
            float* panel = Panel();
            _subsample.Set(x, panel, scatter: false);
            Execute(_subsample, Parts(threads, (long)g.N * g.Cb));
            _dense.Forward(panel, y, threads);
            KernelRecord.RanBlocked(this, ConvPass.Forward, false);
            return;
        }
        if (_paddedX is not null)
        {
            float* copy = _paddedX.Aim(x);
            Execute(_paddedX, Parts(threads, (long)Geometry.N * Geometry.Cb));
            _pass.Set(ConvPass.Forward, copy, w.Pointer, _bias is null ? null : _bias.Pointer, y, _paddedX.Left, _paddedX.RowLength);
        }
        else
        {
            _pass.Set(ConvPass.Forward, x, w.Pointer, _bias is null ? null : _bias.Pointer, y, 0, Geometry.In[2]);
        }
        Execute(_pass, Parts(threads, (long)Geometry.N * Geometry.G * Geometry.Out[0] * Geometry.Out[1]));
    }

    /// <summary>Backward-data on blocked memory that will not move (shapes checked by the caller); no allocation.</summary>
    internal void BackwardData(float* dy, float* dx, int threads)
    {
        bool dot = ConvPlanner.UsesFewChannelDot(Problem);
        var w = (dot ? _forward : _transposed) ?? throw new InvalidOperationException("SetWeights must be called before a pass that needs the weights");
        KernelRecord.RanBlocked(this, ConvPass.BackwardData, false);
        if (_subsample is not null && !dot)
        {
            // Strided 1×1: the unit-stride dX' over whole images (a 1×1 layer's transposed blocks are the same for both),
            // then scattered to the sampled positions with zeros between.
            var g = Geometry;
            _dense ??= new BlockedConvPlan(DenseSubsample.Dense(Problem), g.B);
            _dense._transposed = w;
            float* panel = Panel();
            _dense.BackwardData(dy, panel, threads);
            _subsample.Set(dx, panel, scatter: true);
            Execute(_subsample, Parts(threads, (long)g.N * g.Cb));
            KernelRecord.RanBlocked(this, ConvPass.BackwardData, false);
            return;
        }
        if (_paddedDy is not null)
        {
            float* copy = _paddedDy.Aim(dy);
            Execute(_paddedDy, Parts(threads, (long)Geometry.N * Geometry.Kb));
            _pass.Set(ConvPass.BackwardData, copy, w.Pointer, null, dx, _paddedDy.Left, _paddedDy.RowLength);
        }
        else
        {
            _pass.Set(ConvPass.BackwardData, dy, w.Pointer, null, dx, 0, Geometry.Out[2]);
        }
        Execute(_pass, Parts(threads, (long)Geometry.N * Geometry.G * Geometry.In[0] * Geometry.In[1]));
    }

    /// <summary>Backward-weight from blocked memory into <c>[K, C/G, k...]</c> <paramref name="dw"/>; no allocation once warm.</summary>
    internal void BackwardWeight(float* x, float* dy, float* dw, int threads)
    {
        KernelRecord.RanBlocked(this, ConvPass.BackwardWeight, false);
        var g = Geometry;
        if (g.Depthwise)
        {
            _pass.Set(ConvPass.BackwardWeight, x, dy, null, dw, 0, 0);
            Execute(_pass, Parts(threads, g.Cb));
            return;
        }
        if (_subsample is not null)
        {
            // Strided 1×1: gather the sampled pixels once, then the unit-stride kernel over whole images.
            _dense ??= new BlockedConvPlan(DenseSubsample.Dense(Problem), g.B);
            float* panel = Panel();
            _subsample.Set(x, panel, scatter: false);
            Execute(_subsample, Parts(threads, (long)g.N * g.Cb));
            _dense.BackwardWeight(panel, dy, dw, threads);
            KernelRecord.RanBlocked(this, ConvPass.BackwardWeight, false);
            return;
        }
        int tasks = g.B == 16 ? DirectKernels<Isa512, Vector512<float>>.WeightTasks(g) : DirectKernels<Isa256, Vector256<float>>.WeightTasks(g);
        int chunks = WeightChunks(g, tasks);
        // The partial sums live in this thread's scratch (the workers only write their own units' slices of it).
        float* partials = chunks > 1 ? BlockedScratch.Floats((long)tasks * chunks * AccumulatorLength(g)) : null;
        _weights.Set(x, dy, dw, tasks, chunks, partials);
        Execute(_weights, Parts(threads, (long)tasks * chunks));
        if (partials != null)
        {
            _weights.Reduce();
        }
    }

    /// <summary>The strided 1×1 passes' dense panel (made once per plan).</summary>
    private float* Panel()
    {
        _panel ??= new AlignedFloats(checked((int)DenseSubsample.PanelFloats(Geometry)));
        return _panel.Pointer;
    }

    /// <summary>
    /// Fixed reduction chunks of dW's rows: 1 when there are enough tasks (blocks) to share among threads, else up to
    /// four row ranges with private sums added in chunk order. A function of the shape only, never of the thread count.
    /// </summary>
    public static int WeightChunks(BlockedGeometry g, int tasks) =>
        tasks >= MinWeightTasks ? 1 : (int)Math.Min(MinWeightTasks, (long)g.N * g.Out[0] * g.Out[1]);

    private static int AccumulatorLength(BlockedGeometry g) => g.WeightOutBlocks * g.Taps * g.B * g.B;

    private int Parts(int threads, long items) =>
        threads <= 1 || Problem.MultiplyAdds < ParallelThreshold ? 1 : (int)Math.Min(threads, items);

    private static void Execute(IPartitionedWork work, int parts)
    {
        if (parts <= 1)
        {
            work.Run(0, 1);
        }
        else
        {
            WorkerPool.Run(work, parts);
        }
    }

    private void Check(BlockedTensor t, int[] shape, string name)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (!t.Shape.SequenceEqual(shape))
        {
            throw new ArgumentException($"{name} has shape {Shapes.Format(t.Shape)} but the layer needs {Shapes.Format(shape)}", name);
        }
        if (t.BlockSize != BlockSize)
        {
            throw new ArgumentException($"{name} has channel block {t.BlockSize} but the plan uses {BlockSize}", name);
        }
    }

    private static void CheckLength(int length, int[] shape, string name, string what = "weight")
    {
        if (length != Shapes.Product(shape))
        {
            throw new ArgumentException($"{name} has {length} elements but the {what} {Shapes.Format(shape)} needs {Shapes.Product(shape)}", name);
        }
    }

    private static float* Ptr(BlockedTensor t) => (float*)Unsafe.AsPointer(ref t.Storage.DataRef);


    /// <summary>Forward or backward-data (and depthwise backward-weight): part <c>i</c> takes a contiguous range of output rows (channel blocks).</summary>
    private sealed class Pass(BlockedConvPlan plan) : IPartitionedWork
    {
        private ConvPass pass;
        private float* input, weights, bias, output;
        private int left, row;

        /// <summary>Aims the next run; the input's rows are <paramref name="row"/> pixels long with <paramref name="left"/> zero columns first (a <see cref="PaddedColumns"/> copy, else 0 and the tensor's width).</summary>
        public void Set(ConvPass pass, float* input, float* weights, float* bias, float* output, int left, int row)
        {
            this.pass = pass; this.input = input; this.weights = weights; this.bias = bias; this.output = output; this.left = left; this.row = row;
        }

        public void Run(int part, int parts)
        {
            var g = plan.Geometry;
            if (g.Depthwise)
            {
                RunDepthwise(g, part, parts);
            }
            else if (pass == ConvPass.BackwardData && ConvPlanner.UsesFewChannelDot(plan.Problem))
            {
                if (g.B == 16)
                {
                    FewChannelDotKernels<Isa512, Vector512<float>>.BackwardData(plan.Problem, g, input, weights, output, part, parts);
                }
                else
                {
                    FewChannelDotKernels<Isa256, Vector256<float>>.BackwardData(plan.Problem, g, input, weights, output, part, parts);
                }
            }
            else if (g.B == 16)
            {
                if (pass == ConvPass.Forward)
                {
                    DirectKernels<Isa512, Vector512<float>>.Forward(g, input, weights, bias, output, part, parts, left, row);
                }
                else
                {
                    DirectKernels<Isa512, Vector512<float>>.BackwardData(g, input, weights, output, part, parts, left, row);
                }
            }
            else if (pass == ConvPass.Forward)
            {
                DirectKernels<Isa256, Vector256<float>>.Forward(g, input, weights, bias, output, part, parts, left, row);
            }
            else
            {
                DirectKernels<Isa256, Vector256<float>>.BackwardData(g, input, weights, output, part, parts, left, row);
            }
        }

        /// <summary>Depthwise: forward and dX as above; for dW, input is x, weights is dY and output is dW.</summary>
        private void RunDepthwise(BlockedGeometry g, int part, int parts)
        {
            switch (pass, g.B)
            {
                case (ConvPass.Forward, 16): DepthwiseRowPairs<Isa512, Vector512<float>>.Forward(g, input, weights, bias, output, part, parts); break;
                case (ConvPass.Forward, _): DepthwiseRowPairs<Isa256, Vector256<float>>.Forward(g, input, weights, bias, output, part, parts); break;
                case (ConvPass.BackwardData, 16): DepthwiseRowPairs<Isa512, Vector512<float>>.BackwardData(g, input, weights, output, part, parts); break;
                case (ConvPass.BackwardData, _): DepthwiseRowPairs<Isa256, Vector256<float>>.BackwardData(g, input, weights, output, part, parts); break;
                case (_, 16): DepthwiseKernels<Isa512, Vector512<float>>.BackwardWeight(g, input, weights, output, part, parts); break;
                default: DepthwiseKernels<Isa256, Vector256<float>>.BackwardWeight(g, input, weights, output, part, parts); break;
            }
        }
    }

    /// <summary>The first-layer passes: forward splits (output row, block group) items, backward-weight splits tasks; for dW, input is x, weights is dY and output is dW.</summary>
    private sealed class FlatPass(BlockedConvPlan plan) : IPartitionedWork
    {
        private ConvPass pass;
        private float* input, weights, bias, output;
        private bool dyNchw;
        private AlignedFloats? partials;

        /// <summary>The dW chunk partial sums <c>[task][chunk]</c> (pinned, made once per plan; only with more than one chunk).</summary>
        public float* Partials => partials is null ? null : partials.Pointer;

        public void Set(ConvPass pass, float* input, float* weights, float* bias, float* output, bool dyNchw = false)
        {
            this.pass = pass; this.input = input; this.weights = weights; this.bias = bias; this.output = output; this.dyNchw = dyNchw;
            var g = plan.Geometry;
            if (pass == ConvPass.BackwardWeight && FlatInput.WeightChunks(g) > 1 && partials is null)
            {
                partials = new AlignedFloats(FlatInput.WeightTasks(g) * FlatInput.WeightChunks(g) * FlatInput.AccumulatorLength(g));
            }
        }

        public void Run(int part, int parts)
        {
            var g = plan.Geometry;
            if (pass == ConvPass.Forward)
            {
                if (g.B == 16)
                {
                    FlatInputKernels<Isa512, Vector512<float>>.Forward(g, input, weights, bias, output, part, parts);
                }
                else
                {
                    FlatInputKernels<Isa256, Vector256<float>>.Forward(g, input, weights, bias, output, part, parts);
                }
                return;
            }
            int units = FlatInput.WeightTasks(g) * FlatInput.WeightChunks(g);
            int begin = (int)((long)units * part / parts), end = (int)((long)units * (part + 1) / parts);
            if (g.B == 16)
            {
                FlatInputKernels<Isa512, Vector512<float>>.BackwardWeight(g, input, weights, output, Partials, begin, end, dyNchw);
            }
            else
            {
                FlatInputKernels<Isa256, Vector256<float>>.BackwardWeight(g, input, weights, output, Partials, begin, end, dyNchw);
            }
        }
    }

    /// <summary>Backward-weight: units are (task, chunk); part <c>i</c> takes a contiguous range of units.</summary>
    private sealed class Weights(BlockedConvPlan plan) : IPartitionedWork
    {
        private float* x, dy, dw, partials;
        private int tasks, chunks;

        public void Set(float* x, float* dy, float* dw, int tasks, int chunks, float* partials)
        {
            this.x = x; this.dy = dy; this.dw = dw; this.tasks = tasks; this.chunks = chunks; this.partials = partials;
        }

        public void Run(int part, int parts)
        {
            var g = plan.Geometry;
            int units = tasks * chunks;
            int begin = (int)((long)units * part / parts), end = (int)((long)units * (part + 1) / parts);
            long rows = (long)g.N * g.Out[0] * g.Out[1];
            int accLength = AccumulatorLength(g);
            if (partials != null)
            {
                for (int unit = begin; unit < end; unit++)
                {
                    int task = unit / chunks, chunk = unit % chunks;
                    Task(g, task, rows * chunk / chunks, rows * (chunk + 1) / chunks, partials + (long)unit * accLength, true);
                }
                return;
            }
            // Tasks in tiles of (input blocks × output quads) whose accumulators fit the budget; rows in chunks whose x
            // and dY (of the tile's input blocks and quads) fit in L2 beside them, so one chunk serves every task of the
            // tile from cache. Each task still sums its rows in order, so neither the tiles nor the chunks change a bit.
            int quads = (g.KbG + g.WeightOutBlocks - 1) / g.WeightOutBlocks;
            var (tileQuads, tileRows) = WeightTaskTile(g, accLength, quads);
            long rowBytes = (Math.Min(g.KbG, (long)tileQuads * g.WeightOutBlocks) * g.Out[2] + (long)tileRows * g.In[2] * g.S[1]) * g.B * sizeof(float);
            long rowsPerChunk = Math.Max(1, ChunkBytes / Math.Max(1, rowBytes));
            int most = tileQuads * tileRows;
            float* acc = BlockedScratch.Floats((long)most * accLength);
            int* list = stackalloc int[most];
            // Task t is (row t / quads = group · CbG + input block, quad t % quads); the range [begin, end) is contiguous.
            for (int row0 = begin / quads; row0 <= (end - 1) / quads; row0 += tileRows)
            {
                for (int q0 = 0; q0 < quads; q0 += tileQuads)
                {
                    int count = 0;
                    for (int row = row0; row < row0 + tileRows; row++)
                    {
                        for (int q = q0; q < Math.Min(quads, q0 + tileQuads); q++)
                        {
                            int task = row * quads + q;
                            if (task >= begin && task < end)
                            {
                                list[count++] = task;
                            }
                        }
                    }
                    for (long r0 = 0; r0 < rows && count > 0; r0 += rowsPerChunk)
                    {
                        long r1 = Math.Min(rows, r0 + rowsPerChunk);
                        for (int i = 0; i < count; i++)
                        {
                            Task(g, list[i], r0, r1, acc + (long)i * accLength, r0 == 0);
                        }
                    }
                    for (int i = 0; i < count; i++)
                    {
                        Store(g, list[i], acc + (long)i * accLength);
                    }
                }
            }
        }

        /// <summary>
        /// The task tile of one cache sweep: output quads × input blocks (rows of tasks) whose accumulators fit
        /// <see cref="AccumulatorBudget"/>, shaped for the least x and dY read into L2 per task and output row:
        /// <c>4·ow / rows + iw·sh / quads</c> blocks (a tile of q quads and r rows reads the dY of q quads once for r rows, and
        /// the x of r blocks once for q quads). A function of the shape only.
        /// </summary>
        private static (int Quads, int Rows) WeightTaskTile(BlockedGeometry g, int accLength, int quads)
        {
            int budget = Math.Max(1, AccumulatorBudget / accLength);
            int taskRows = g.G * g.CbG;
            var best = (Quads: 1, Rows: 1);
            double bestCost = double.MaxValue;
            for (int q = 1; q <= Math.Min(quads, budget); q++)
            {
                int r = Math.Min(taskRows, budget / q);
                double cost = (double)g.WeightOutBlocks * g.Out[2] / r + (double)g.In[2] * g.S[1] / q;
                if (cost < bestCost - 1e-12)
                {
                    best = (q, r);
                    bestCost = cost;
                }
            }
            return best;
        }

        private void Task(BlockedGeometry g, int task, long row0, long row1, float* acc, bool clear)
        {
            if (g.B == 16)
            {
                DirectKernels<Isa512, Vector512<float>>.BackwardWeightTask(g, x, dy, task, row0, row1, acc, clear);
            }
            else
            {
                DirectKernels<Isa256, Vector256<float>>.BackwardWeightTask(g, x, dy, task, row0, row1, acc, clear);
            }
        }

        private void Store(BlockedGeometry g, int task, float* acc)
        {
            if (g.B == 16)
            {
                DirectKernels<Isa512, Vector512<float>>.StoreWeights(g, task, acc, dw);
            }
            else
            {
                DirectKernels<Isa256, Vector256<float>>.StoreWeights(g, task, acc, dw);
            }
        }

        /// <summary>Adds each task's chunk partials in chunk order (into chunk 0) and stores the result.</summary>
        public void Reduce()
        {
            var g = plan.Geometry;
            int accLength = AccumulatorLength(g);
            for (int task = 0; task < tasks; task++)
            {
                float* sum = partials + (long)task * chunks * accLength;
                // Only the task's own output blocks hold sums (a layer of fewer than WeightOutBlocks blocks leaves the rest unwritten).
                int used = accLength / g.WeightOutBlocks * DirectKernels<Isa512, Vector512<float>>.WeightTaskBlocks(g, task).OutBlocks;
                for (int chunk = 1; chunk < chunks; chunk++)
                {
                    var s = new Span<float>(sum, used);
                    System.Numerics.Tensors.TensorPrimitives.Add(s, new ReadOnlySpan<float>(sum + (long)chunk * accLength, used), s);
                }
                Store(g, task, sum);
            }
        }
    }
}

/// <summary>
/// One-shot entry points of the blocked engine, for dispatch and bench: each builds a <see cref="BlockedConvPlan"/>
/// (reblocking the weights) and runs one pass on tensors already in the blocked layout.
/// </summary>
internal static class BlockedConv
{
    /// <summary>
    /// Whether the blocked kernels compute <paramref name="pass"/> of <paramref name="p"/> with vectors of
    /// <paramref name="vectorWidth"/> floats (16 or 8): any 1-3 D geometry with one group, groups of whole channel blocks,
    /// or depthwise with multiplier 1 (groups = C = K).
    /// </summary>
    public static bool Applies(ConvProblem p, ConvPass pass, int vectorWidth) =>
        vectorWidth is 8 or 16 && BlockedGeometry.Applies(p, vectorWidth);

    /// <summary>
    /// Whether the blocked kernels are expected to beat the NCHW engine (measured on the suite): not for groups with
    /// fewer than half a block of input channels (first layers with 1-3 channels), whose padded lanes would be mostly zeros.
    /// </summary>
    public static bool Worthwhile(ConvProblem p, int vectorWidth) =>
        Applies(p, ConvPass.Forward, vectorWidth) && (p.IsChannelwise || 2 * p.Cg >= vectorWidth);

    /// <summary>y = x ⋆ w + b on blocked tensors (<paramref name="b"/> empty for no bias).</summary>
    public static void Forward(ConvProblem p, BlockedTensor x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, BlockedTensor y, int threads)
    {
        var plan = new BlockedConvPlan(p, x.BlockSize);
        plan.SetWeights(w, b);
        plan.Forward(x, y, threads);
    }

    /// <summary>dx = ∂L/∂x on blocked tensors.</summary>
    public static void BackwardData(ConvProblem p, BlockedTensor dy, ReadOnlySpan<float> w, BlockedTensor dx, int threads)
    {
        var plan = new BlockedConvPlan(p, dy.BlockSize);
        plan.SetWeights(w, default);
        plan.BackwardData(dy, dx, threads);
    }

    /// <summary>dw = ∂L/∂w from blocked x and dy into <paramref name="dw"/> <c>[K, C/G, k...]</c>.</summary>
    public static void BackwardWeight(ConvProblem p, BlockedTensor x, BlockedTensor dy, Span<float> dw, int threads) =>
        new BlockedConvPlan(p, x.BlockSize).BackwardWeight(x, dy, dw, threads);

    /// <summary>
    /// First-layer forward: y = x ⋆ w + b from plain NCHW <paramref name="x"/> (one group, 1-3 input channels:
    /// <see cref="FlatInput.Applies"/>) into blocked <paramref name="y"/> (<paramref name="b"/> empty for no bias).
    /// </summary>
    public static void ForwardFromNchw(ConvProblem p, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, BlockedTensor y, int threads)
    {
        var plan = new BlockedConvPlan(p, y.BlockSize);
        plan.SetWeights(w, b);
        plan.ForwardFromNchw(x, y, threads);
    }

    /// <summary>First-layer backward-weight: dw = ∂L/∂w from plain NCHW <paramref name="x"/> and blocked <paramref name="dy"/> into <paramref name="dw"/> <c>[K, C, k...]</c>.</summary>
    public static void BackwardWeightFromNchw(ConvProblem p, ReadOnlySpan<float> x, BlockedTensor dy, Span<float> dw, int threads) =>
        new BlockedConvPlan(p, dy.BlockSize).BackwardWeightFromNchw(x, dy, dw, threads);
}
