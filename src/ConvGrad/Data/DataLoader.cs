using ConvGrad.Distributed;

namespace ConvGrad.Data;

/// <summary>
/// Batches of a dataset as model inputs, as <c>torch.utils.data.DataLoader</c>: the epoch's order (shuffled by
/// <see cref="SampleRandom.EpochOrder"/> from (seed, epoch), or in order), each sample's transforms keyed by
/// <c>SampleRandom(seed, epoch, sample index)</c>, normalisation into a <c>[B, C, H, W]</c> tensor, this rank's
/// <see cref="Shard"/> of every batch, and the next batch prepared on a background thread while the current one is
/// used. Every result depends only on (seed, epoch, sample), so distributed and resumed runs are bitwise repeatable.
/// </summary>
/// <remarks>
/// A batch's tensor is reused two batches later (two buffers alternate): use a batch before taking the one after the
/// next, and <c>Clone()</c> what you keep. Dispose the loader to return the buffers to the pool.
/// </remarks>
public sealed class DataLoader : IDisposable
{
    private readonly IImageTransform[] _transforms;
    private readonly float[] _table;
    private readonly Slot[] _slots = [new(), new()];

    /// <summary>A loader of <paramref name="dataset"/> in batches of <paramref name="batchSize"/>.</summary>
    /// <param name="dataset">The images.</param>
    /// <param name="batchSize">Images per (global) batch; the last batch may be smaller.</param>
    /// <param name="normalization">The per-channel mean and std (<see cref="Normalization.Compute"/> of the training set).</param>
    /// <param name="shuffle">Shuffle every epoch (by seed and epoch) rather than keep the dataset's order.</param>
    /// <param name="seed">The seed of the shuffle and of the transforms.</param>
    /// <param name="transforms">Augmentations applied to each image in order (training only), or null.</param>
    /// <param name="communicator">Ranks that split every batch (<see cref="Shard.Of(int, Communicator)"/>), or null for all of it.</param>
    /// <param name="prefetch">Prepare the next batch on a background thread.</param>
    /// <exception cref="ArgumentException">A batch size below 1, or a normalisation of another channel count.</exception>
    public DataLoader(IImageDataset dataset, int batchSize, Normalization normalization, bool shuffle = false, ulong seed = 0,
        IEnumerable<IImageTransform>? transforms = null, Communicator? communicator = null, bool prefetch = true)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(normalization);
        if (batchSize < 1)
        {
            throw new ArgumentException($"batch size must be >= 1; got {batchSize}", nameof(batchSize));
        }
        if (normalization.Channels != dataset.Shape.Channels)
        {
            throw new ArgumentException($"the normalisation has {normalization.Channels} channels; the images have {dataset.Shape.Channels}", nameof(normalization));
        }
        Dataset = dataset;
        BatchSize = batchSize;
        Normalization = normalization;
        Shuffle = shuffle;
        Seed = seed;
        _transforms = transforms?.ToArray() ?? [];
        Communicator = communicator;
        Prefetch = prefetch;
        _table = normalization.Table();
    }

    /// <summary>The images.</summary>
    public IImageDataset Dataset { get; }

    /// <summary>Images per global batch.</summary>
    public int BatchSize { get; }

    /// <summary>The normalisation.</summary>
    public Normalization Normalization { get; }

    /// <summary>Whether every epoch is shuffled.</summary>
    public bool Shuffle { get; }

    /// <summary>The seed of the shuffle and the transforms.</summary>
    public ulong Seed { get; }

    /// <summary>The transforms, in order.</summary>
    public IReadOnlyList<IImageTransform> Transforms => _transforms;

    /// <summary>The ranks that split every batch, or null.</summary>
    public Communicator? Communicator { get; }

    /// <summary>Whether the next batch is prepared in the background.</summary>
    public bool Prefetch { get; }

    /// <summary>Batches per epoch: ⌈count / batch size⌉.</summary>
    public int BatchesPerEpoch => (Dataset.Count + BatchSize - 1) / BatchSize;

    /// <summary>The batches of epoch <paramref name="epoch"/> (0-based; it keys the shuffle and the transforms).</summary>
    /// <param name="epoch">The epoch.</param>
    public IEnumerable<Batch> Epoch(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        return Batches(epoch);
    }

    private IEnumerable<Batch> Batches(int epoch)
    {
        int count = Dataset.Count, batches = BatchesPerEpoch;
        int[] order = Shuffle ? SampleRandom.EpochOrder(count, Seed, epoch) : Enumerable.Range(0, count).ToArray();
        Task<Batch>? next = null;
        try
        {
            for (int bi = 0; bi < batches; bi++)
            {
                var current = next is null ? Fill(order, epoch, bi) : next.GetAwaiter().GetResult();
                next = null;
                if (bi + 1 < batches)
                {
                    int following = bi + 1;
                    next = Prefetch ? Task.Run(() => Fill(order, epoch, following)) : null;
                }
                yield return current;
            }
        }
        finally
        {
            // An abandoned epoch must not leave a fill writing into buffers that are about to be reused or freed.
            try
            {
                next?.Wait();
            }
            catch (AggregateException)
            {
            }
        }
    }

    private Batch Fill(int[] order, int epoch, int index)
    {
        var shape = Dataset.Shape;
        int start = index * BatchSize, global = Math.Min(BatchSize, Dataset.Count - start);
        var shard = Communicator is null ? new Shard(0, global) : Shard.Of(global, Communicator);
        var slot = _slots[index & 1];
        slot.Prepare(shard.Count, shape);
        order.AsSpan(start + shard.Start, shard.Count).CopyTo(slot.Indices);
        int px = shape.Length, plane = shape.Height * shape.Width;
        var xs = slot.Images is null ? default : slot.Images.Span;
        for (int i = 0; i < shard.Count; i++)
        {
            int k = slot.Indices[i];
            slot.Labels[i] = Dataset.Label(k);
            Span<byte> a = slot.Scratch.AsSpan(0, px), b = slot.Scratch.AsSpan(px, px);
            Dataset.ReadPixels(k, a);
            if (_transforms.Length > 0)
            {
                var random = new SampleRandom(Seed, epoch, k);
                foreach (var t in _transforms)
                {
                    t.Apply(a, b, shape, ref random);
                    var swap = a;
                    a = b;
                    b = swap;
                }
            }
            var dst = xs.Slice(i * px, px);
            for (int c = 0; c < shape.Channels; c++)
            {
                var lut = _table.AsSpan(c * 256, 256);
                var src = a.Slice(c * plane, plane);
                var d = dst.Slice(c * plane, plane);
                for (int p = 0; p < plane; p++)
                {
                    d[p] = lut[src[p]];
                }
            }
        }
        return new Batch(index, BatchesPerEpoch, start, global, shard, slot.Images, slot.Indices, slot.Labels);
    }

    /// <summary>Returns the batch buffers to the pool.</summary>
    public void Dispose()
    {
        foreach (var s in _slots)
        {
            s.Dispose();
        }
    }

    /// <summary>One of the two alternating batch buffers.</summary>
    private sealed class Slot : IDisposable
    {
        public Tensor<float>? Images;
        public int[] Indices = [];
        public int[] Labels = [];
        public byte[] Scratch = [];

        public void Prepare(int count, ImageShape shape)
        {
            if (Indices.Length != count || Images is null && count > 0 || Images is not null && Images.Length != (long)count * shape.Length)
            {
                Images?.Dispose();
                Images = count > 0 ? Tensor<float>.Uninitialized(count, shape.Channels, shape.Height, shape.Width) : null;
                Indices = new int[count];
                Labels = new int[count];
            }
            if (Scratch.Length != 2 * shape.Length)
            {
                Scratch = new byte[2 * shape.Length];
            }
        }

        public void Dispose()
        {
            Images?.Dispose();
            Images = null;
        }
    }
}

/// <summary>
/// One batch from a <see cref="DataLoader"/>: this rank's shard of global batch <see cref="Index"/> — its images, their
/// positions in the dataset and their labels.
/// </summary>
/// <param name="Index">The batch, 0-based within the epoch.</param>
/// <param name="Batches">Batches in the epoch.</param>
/// <param name="Start">The global batch's first position in the epoch's order.</param>
/// <param name="GlobalCount">Images in the global batch (all ranks together).</param>
/// <param name="Shard">This rank's part of the global batch.</param>
/// <param name="Images">The normalised images <c>[Shard.Count, C, H, W]</c>, or null when the shard is empty.</param>
/// <param name="IndexArray">The dataset positions of this shard's images.</param>
/// <param name="LabelArray">Their labels.</param>
public sealed record Batch(int Index, int Batches, int Start, int GlobalCount, Shard Shard, Tensor<float>? Images, int[] IndexArray, int[] LabelArray)
{
    /// <summary>The dataset positions of this shard's images (the keys of their randomness).</summary>
    public ReadOnlySpan<int> Indices => IndexArray;

    /// <summary>The labels of this shard's images.</summary>
    public ReadOnlySpan<int> Labels => LabelArray;

    /// <summary>Images in this rank's shard.</summary>
    public int Count => Shard.Count;
}
