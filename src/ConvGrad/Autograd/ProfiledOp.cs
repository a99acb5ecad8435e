namespace ConvGrad.Autograd;

/// <summary>
/// The kinds of work a <see cref="Training.StepProfile"/> tells apart: the differentiable operations (forward, and the
/// backward rules of the nodes they record), the parts of a convolution's backward pass, and the parts of a training
/// step outside the operations.
/// </summary>
internal enum ProfiledOp : byte
{
    /// <summary>Nodes recorded outside any profiled operation (none in the library's own models).</summary>
    Other,

    /// <summary>Convolution: the forward pass (backward rule remainder: plan bookkeeping between the parts below).</summary>
    Conv,

    /// <summary>The data gradient of a convolution.</summary>
    ConvData,

    /// <summary>The weight gradient of a convolution.</summary>
    ConvWeight,

    /// <summary>The bias gradient of a convolution.</summary>
    ConvBias,

    /// <summary>Transposed convolution.</summary>
    ConvTranspose,

    /// <summary>Batch normalisation.</summary>
    BatchNorm,

    /// <summary>Batch normalisation fused with the ReLU after it (and the residual added before that ReLU).</summary>
    BatchNormRelu,

    /// <summary>max(x, 0).</summary>
    Relu,

    /// <summary>Dropout.</summary>
    Dropout,

    /// <summary>a + b, a − b.</summary>
    Add,

    /// <summary>a · b.</summary>
    Mul,

    /// <summary>Sum and mean of all elements.</summary>
    Reduce,

    /// <summary>Max pooling.</summary>
    MaxPool,

    /// <summary>Average pooling.</summary>
    AvgPool,

    /// <summary>Global average pooling.</summary>
    GlobalAvgPool,

    /// <summary>Reshape and flatten.</summary>
    Reshape,

    /// <summary>Concatenation.</summary>
    Concat,

    /// <summary>The fully connected layer.</summary>
    Linear,

    /// <summary>Log-softmax and negative log-likelihood (cross-entropy).</summary>
    Loss,

    /// <summary>Memory-format reorders (NCHW ↔ channel-blocked).</summary>
    Layout,

    /// <summary>User-defined differentiable functions.</summary>
    Function,

    /// <summary>The backward passes' walk, gradient sums and releases (<see cref="TapeStatistics"/>).</summary>
    Bookkeeping,

    /// <summary>Waiting for the next batch (loading, normalising, augmenting).</summary>
    DataLoading,

    /// <summary>Clearing the gradients.</summary>
    ZeroGrad,

    /// <summary>The optimiser's update.</summary>
    OptimizerStep,

    /// <summary>The divergence guard's checks of gradients and weights.</summary>
    DivergenceGuard,
}

/// <summary>What <see cref="ProfiledOp"/> values are called in a profile table.</summary>
internal static class ProfiledOps
{
    /// <summary>The number of kinds.</summary>
    public const int Count = (int)ProfiledOp.DivergenceGuard + 1;

    /// <summary>The name of <paramref name="op"/> in a profile table.</summary>
    public static string Name(ProfiledOp op) => op switch
    {
        ProfiledOp.Other => "other operations",
        ProfiledOp.Conv => "conv",
        ProfiledOp.ConvData => "conv dX",
        ProfiledOp.ConvWeight => "conv dW",
        ProfiledOp.ConvBias => "conv db",
        ProfiledOp.ConvTranspose => "conv transpose",
        ProfiledOp.BatchNorm => "batch norm",
        ProfiledOp.BatchNormRelu => "batch norm+relu(+add)",
        ProfiledOp.Relu => "relu",
        ProfiledOp.Dropout => "dropout",
        ProfiledOp.Add => "add",
        ProfiledOp.Mul => "mul",
        ProfiledOp.Reduce => "sum/mean",
        ProfiledOp.MaxPool => "max pool",
        ProfiledOp.AvgPool => "avg pool",
        ProfiledOp.GlobalAvgPool => "global avg pool",
        ProfiledOp.Reshape => "reshape/flatten",
        ProfiledOp.Concat => "concat",
        ProfiledOp.Linear => "linear",
        ProfiledOp.Loss => "loss (cross-entropy)",
        ProfiledOp.Layout => "layout reorder",
        ProfiledOp.Function => "custom functions",
        ProfiledOp.Bookkeeping => "autograd bookkeeping",
        ProfiledOp.DataLoading => "data loading (wait)",
        ProfiledOp.ZeroGrad => "zero grad",
        ProfiledOp.OptimizerStep => "optimizer step",
        ProfiledOp.DivergenceGuard => "divergence guard",
        _ => op.ToString(),
    };
}
