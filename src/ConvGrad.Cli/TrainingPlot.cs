namespace ConvGrad.Cli;

/// <summary>The PNG of a training run: per-batch loss (and per-epoch held-out loss) on the left axis, held-out accuracy on the right.</summary>
internal static class TrainingPlot
{
    public static void Save(string path, IReadOnlyList<double> batchLosses, int batchesPerEpoch,
        IReadOnlyList<(int Epoch, double TestLoss, double TestAcc, double ValAcc)> epochs)
    {
        var plt = new ScottPlot.Plot();
        double[] bx = Enumerable.Range(1, batchLosses.Count).Select(i => (double)i / batchesPerEpoch).ToArray();
        var loss = plt.Add.ScatterLine(bx, batchLosses.ToArray());
        loss.LegendText = "training loss (per batch)";
        loss.LineWidth = 1;
        double[] ex = epochs.Select(e => (double)e.Epoch).ToArray();
        var testLoss = plt.Add.Scatter(ex, epochs.Select(e => e.TestLoss).ToArray());
        testLoss.LegendText = "held-out loss";
        var acc = plt.Add.Scatter(ex, epochs.Select(e => 100 * e.TestAcc).ToArray());
        acc.LegendText = "held-out accuracy (%)";
        acc.Axes.YAxis = plt.Axes.Right;
        if (epochs.All(e => !double.IsNaN(e.ValAcc)))
        {
            var val = plt.Add.Scatter(ex, epochs.Select(e => 100 * e.ValAcc).ToArray());
            val.LegendText = "validation accuracy (%)";
            val.Axes.YAxis = plt.Axes.Right;
        }
        plt.Title("convgrad train");
        plt.XLabel("epoch");
        plt.Axes.Left.Label.Text = "cross-entropy loss";
        plt.Axes.Right.Label.Text = "accuracy (%)";
        plt.ShowLegend(ScottPlot.Alignment.MiddleRight);
        // Through AtomicFile, as the checkpoints: a kill while the plot is written leaves the previous PNG, not a torn one.
        byte[] png = plt.GetImageBytes(1000, 560, ScottPlot.ImageFormat.Png);
        ConvGrad.Data.AtomicFile.Write(path, s => s.Write(png));
    }
}
