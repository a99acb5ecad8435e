using ConvGrad.Nn;
using ConvGrad.Onnx;
using ConvGrad.Training;

namespace ConvGrad.Cli;

/// <summary>
/// A model file as the commands load it: a safetensors state dict of a built-in model, or an ONNX file imported into
/// the library's modules — with its input shape and the metadata that travels with it.
/// </summary>
/// <param name="Module">The network.</param>
/// <param name="InputShape">One sample's shape <c>[C, H, W]</c>.</param>
/// <param name="Metadata">Class names and normalisation.</param>
internal sealed record LoadedModel(Module<float> Module, int[] InputShape, OnnxMetadata Metadata);

/// <summary>Model files by type, as the commands load and save them: safetensors classifiers of the built-in architectures, and ONNX models.</summary>
internal static class ModelFiles
{
    /// <summary>Whether <paramref name="path"/> names an ONNX file (by its extension).</summary>
    public static bool IsOnnx(string path) => path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Loads <paramref name="path"/>: ONNX by extension (its metadata as the file has it), else safetensors (a built-in
    /// classifier). <paramref name="normalization"/>, when given (<c>--mean</c>/<c>--std</c>), replaces the file's.
    /// </summary>
    public static LoadedModel Load(string path, ConvOptions options, OnnxMetadata? normalization = null)
    {
        LoadedModel loaded;
        if (IsOnnx(path))
        {
            var m = OnnxImport.Load(path, options);
            loaded = new LoadedModel(m.Module, [.. m.InputShape], m.Metadata);
        }
        else
        {
            // A classifier saved by train: its metadata gives the architecture, input shape, classes and normalisation
            // (an older file without it is a digit model: [1, 28, 28], digits 0-9, MNIST's mean and std).
            var c = Classifier.Load(path, options);
            loaded = new LoadedModel(c.Module, c.Info.InputShape.ToArray(), new OnnxMetadata(c.Info.Classes, c.Info.Normalization.Mean, c.Info.Normalization.Std));
        }
        return normalization is null ? loaded : loaded with { Metadata = loaded.Metadata with { Mean = normalization.Mean, Std = normalization.Std, NormalizationInGraph = false } };
    }

    /// <summary>
    /// The model of <c>train --init-from</c> (none without it): a safetensors classifier, or an ONNX model imported as a
    /// module graph (then also the imported model, whose input name and batch form the trained graph is saved with).
    /// </summary>
    public static (InitialModel? Initial, OnnxModel? Onnx) LoadInitial(string? path, ConvOptions options)
    {
        if (path is null)
        {
            return (null, null);
        }
        if (!File.Exists(path))
        {
            throw new UsageException($"--init-from: no such model file: {path}");
        }
        if (!IsOnnx(path))
        {
            return (InitialModel.Load(path), null);
        }
        var onnx = OnnxImport.Load(path, options);
        return (onnx.ToInitialModel(path), onnx);
    }

    /// <summary>
    /// Saves what <paramref name="run"/> trained into <paramref name="folder"/> (rank 0) and returns the file: MODEL.safetensors,
    /// or for a graph imported from <paramref name="onnx"/>, <c>graph.onnx</c> (its input name and batch form; the run's
    /// class names and normalisation in the metadata).
    /// </summary>
    public static string SaveTrained(TrainingRun run, OnnxModel? onnx, string folder)
    {
        if (onnx is null)
        {
            string weights = Path.Combine(folder, $"{run.Config.Model}.safetensors");
            run.SaveModel(weights);
            return weights;
        }
        string graph = Path.Combine(folder, "graph.onnx");
        if (run.Communicator.IsRoot)
        {
            var n = run.Data.Normalization;
            OnnxExport.Save(run.Model, graph, onnx.ExportOptions with { Metadata = new OnnxMetadata(run.Data.Train.Classes, n.Mean, n.Std) });
        }
        return graph;
    }
}
