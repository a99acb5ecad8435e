namespace ConvGrad.Distributed;

/// <summary>The element-wise operation an all-reduce combines the ranks' values with.</summary>
public enum ReduceOperation
{
    /// <summary>The sum over ranks.</summary>
    Sum,
    /// <summary>The minimum over ranks.</summary>
    Min,
    /// <summary>The maximum over ranks.</summary>
    Max,
}
