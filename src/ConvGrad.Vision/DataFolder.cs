using ConvGrad.Data;

namespace ConvGrad.Vision;

/// <summary>
/// A dataset folder as <c>convgrad train --data DIR</c> reads it: IDX files (<see cref="IdxFolder"/>: MNIST's, EMNIST-style,
/// any class count) when the folder holds them, else image folders (<see cref="ImageFolder"/>).
/// </summary>
public static class DataFolder
{
    /// <summary>Loads the training and held-out sets of <paramref name="dir"/>.</summary>
    /// <param name="dir">The dataset's folder.</param>
    /// <param name="options">Channels and size of image folders (IDX files ignore them), or null for what the files say.</param>
    /// <param name="warn">Receives one line per image file skipped, or null to drop them.</param>
    /// <exception cref="DirectoryNotFoundException">There is no such folder.</exception>
    /// <exception cref="InvalidDataException">The files make no dataset (one line naming the folder or file).</exception>
    public static DataSplit Load(string dir, ImageFolderOptions? options = null, Action<string>? warn = null)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (!Directory.Exists(dir))
        {
            throw new DirectoryNotFoundException($"no such folder: {dir}");
        }
        return IdxFolder.Contains(dir) ? IdxFolder.Load(dir) : ImageFolder.Load(dir, options, warn);
    }
}
