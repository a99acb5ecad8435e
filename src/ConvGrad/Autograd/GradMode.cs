namespace ConvGrad.Autograd;

/// <summary>
/// Whether operations are recorded for backward passes on this thread (PyTorch's <c>torch.no_grad()</c>):
/// <code>using (GradMode.NoGrad()) { var logits = model.Forward(x); }</code>
/// Scopes nest; each restores the previous state when disposed.
/// </summary>
public static class GradMode
{
    [ThreadStatic]
    private static int t_disabled;

    /// <summary>Whether operations on variables that require gradients are recorded on this thread.</summary>
    public static bool IsEnabled => t_disabled == 0;

    /// <summary>Stops recording on this thread until the returned scope is disposed.</summary>
    public static Scope NoGrad()
    {
        t_disabled++;
        return new Scope(Environment.CurrentManagedThreadId);
    }

    /// <summary>A no-grad scope; disposing it restores recording (once).</summary>
    public sealed class Scope : IDisposable
    {
        private readonly int _thread;
        private bool _disposed;

        internal Scope(int thread) => _thread = thread;

        /// <summary>Ends the scope.</summary>
        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }
            if (Environment.CurrentManagedThreadId != _thread)
            {
                throw new InvalidOperationException("a NoGrad scope must be disposed on the thread that opened it");
            }
            _disposed = true;
            t_disabled--;
        }
    }
}
