using System.Globalization;
using ConvGrad.Autograd;
using ConvGrad.Data;
using ConvGrad.Nn;

namespace ConvGrad.Training;

/// <summary>
/// The weights a fine-tuning <see cref="TrainingRun"/> starts from (<see cref="TrainingConfig.InitFrom"/>): a built-in
/// classifier saved as safetensors (<see cref="Load"/>), or any module with its weights, such as a graph imported from
/// ONNX (<see cref="FromModule"/>), with what the file says about its input, classes and normalisation. The run checks
/// that it fits the config and the data (<see cref="CheckFits"/>): the same architecture, input shape and classes.
/// </summary>
public sealed class InitialModel
{
    /// <summary>The architecture name of a module trained as it is (<see cref="FromModule"/>), such as an imported ONNX graph.</summary>
    public const string GraphArchitecture = "graph";

    private readonly IReadOnlyDictionary<string, SafeTensor>? _state;
    private readonly Module<float>? _module;

    private InitialModel(string source, string architecture, ImageShape inputShape, int classes, IReadOnlyList<string>? classNames,
        Normalization? normalization, IReadOnlyDictionary<string, SafeTensor>? state, Module<float>? module)
    {
        Source = source;
        Architecture = architecture;
        InputShape = inputShape;
        Classes = classes;
        ClassNames = classNames;
        Normalization = normalization;
        _state = state;
        _module = module;
    }

    /// <summary>The file the weights come from (for messages and <see cref="TrainingConfig.InitFrom"/>).</summary>
    public string Source { get; }

    /// <summary><c>lenet</c> or <c>resnet</c>, or <see cref="GraphArchitecture"/> for a module trained as it is.</summary>
    public string Architecture { get; }

    /// <summary>The input the model takes, C×H×W.</summary>
    public ImageShape InputShape { get; }

    /// <summary>The number of classes (the model's outputs).</summary>
    public int Classes { get; }

    /// <summary>The class names the file carries, or null when it has none.</summary>
    public IReadOnlyList<string>? ClassNames { get; }

    /// <summary>
    /// The input normalisation the weights were trained with, or null when the file does not say; a fine-tune keeps it
    /// (the weights expect their inputs so), else it takes the data's.
    /// </summary>
    public Normalization? Normalization { get; }

    /// <summary>
    /// Reads a classifier saved by <c>convgrad train</c> (or <see cref="Classifier.Save"/>): its architecture from its
    /// tensors, its input shape, class names and normalisation from its metadata (a file without metadata holds a digit
    /// model, <see cref="ClassifierInfo.Digits"/>).
    /// </summary>
    /// <param name="path">The safetensors file.</param>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="InvalidDataException">The file is not safetensors, or holds no built-in classifier (one line naming what it holds).</exception>
    public static InitialModel Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path}: no such model file", path);
        }
        var state = SafeTensorsFile.ReadDictionary(path);
        string? found = ImageClassifiers.ArchitectureOf(state);
        var info = ClassifierInfo.FromMetadata(SafeTensorsFile.ReadMetadata(path), path);
        if (found is null || info is not null && info.Architecture != found)
        {
            string holds = found is null
                ? $"tensors {string.Join(", ", state.Keys.Take(4))}{(state.Count > 4 ? ", ..." : "")} of no known architecture"
                : $"a {found} ({state.Count} tensors)";
            string expected = info is null ? $"a {string.Join(" or ", ImageClassifiers.Names)} saved by convgrad train" : $"the {info.Architecture} its metadata names";
            throw new InvalidDataException($"{path}: the file holds {holds}; expected {expected}");
        }
        info ??= ClassifierInfo.Digits(found);
        string head = found == "resnet" ? "fc.weight" : "10.weight";
        int classes = state.TryGetValue(head, out var h) && h.Shape.Length == 2 ? h.Shape[0] : info.Classes.Count;
        return new InitialModel(path, found, info.InputShape, classes, info.Classes, info.Normalization, state, null);
    }

    /// <summary>
    /// A module to train as it is (its weights are the start; <see cref="Architecture"/> is <see cref="GraphArchitecture"/>),
    /// such as the graph of an ONNX model. Its number of classes is found by one forward pass on a zero image.
    /// </summary>
    /// <param name="module">The network; it is trained in place.</param>
    /// <param name="source">The file it came from.</param>
    /// <param name="inputShape">The input it takes.</param>
    /// <param name="classNames">The class names the file carries, or null.</param>
    /// <param name="normalization">The normalisation the file names, or null.</param>
    /// <exception cref="ArgumentException">The module does not map a <c>[1, C, H, W]</c> input to <c>[1, K]</c> scores, or the names or normalisation do not fit.</exception>
    public static InitialModel FromModule(Module<float> module, string source, ImageShape inputShape, IReadOnlyList<string>? classNames = null, Normalization? normalization = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(source);
        int[] outputShape;
        bool training = module.Training;
        module.Eval();
        try
        {
            using var noGrad = GradMode.NoGrad();
            using var scope = TensorScope.Begin();
            outputShape = [.. module.Forward(Tensor<float>.Zeros(1, inputShape.Channels, inputShape.Height, inputShape.Width)).Shape];
        }
        finally
        {
            module.SetTraining(training);
        }
        if (outputShape is not [1, > 0])
        {
            throw new ArgumentException($"{source}: the model maps a {inputShape} image to [{string.Join(", ", outputShape)}], not to one score per class", nameof(module));
        }
        int classes = outputShape[1];
        if (classNames is not null && classNames.Count != classes)
        {
            throw new ArgumentException($"{source}: the model has {classes} outputs but the file names {classNames.Count} classes", nameof(classNames));
        }
        if (normalization is not null && normalization.Channels != inputShape.Channels)
        {
            throw new ArgumentException($"{source}: the normalisation has {normalization.Channels} channels but the input {inputShape.Channels}", nameof(normalization));
        }
        return new InitialModel(source, GraphArchitecture, inputShape, classes, classNames, normalization, null, module);
    }

    /// <summary>
    /// Checks that this model fits <paramref name="config"/>'s architecture and <paramref name="data"/>'s image shape
    /// and classes (their count, and their names when the file has names).
    /// </summary>
    /// <param name="config">The run's config.</param>
    /// <param name="data">The run's data.</param>
    /// <exception cref="InvalidDataException">It does not; one line naming the file, what it holds and what the run expects.</exception>
    public void CheckFits(TrainingConfig config, TrainingData data)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(data);
        var names = data.Train.Classes;
        bool fits = config.Model == Architecture && data.Train.Shape == InputShape && names.Count == Classes
                    && (ClassNames is null || ClassNames.SequenceEqual(names, StringComparer.Ordinal));
        if (!fits)
        {
            throw new InvalidDataException($"{Source}: the file holds {Describe(Architecture, InputShape, Classes, ClassNames)}; " +
                                           $"expected {Describe(config.Model, data.Train.Shape, names.Count, names)} for this run");
        }
    }

    /// <summary>Builds the model of <paramref name="config"/> with this file's weights (a built-in architecture) or returns the module itself.</summary>
    internal Module<float> Build(TrainingConfig config, ConvOptions? options)
    {
        if (_module is not null)
        {
            return _module;
        }
        var model = ImageClassifiers.Create(config.Model, new Random(config.Seed), InputShape, Classes, config.Dropout, options);
        try
        {
            model.LoadState(_state!);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{Source}: the file holds a {Architecture} that does not fit convgrad's {config.Model} for {InputShape} images and {Classes} classes: {e.Message}", e);
        }
        return model;
    }

    private static string Describe(string architecture, ImageShape shape, int classes, IReadOnlyList<string>? names) =>
        string.Create(CultureInfo.InvariantCulture, $"a {architecture} for {shape} images and {classes} classes") +
        (names is null ? "" : $" ({(names.Count <= 6 ? string.Join(", ", names) : $"{string.Join(", ", names.Take(5))}, ... {names[^1]}")})");
}
