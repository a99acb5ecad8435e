using System.Globalization;

namespace ConvGrad.Cli;

/// <summary>A bad command line: reported as one line and exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// A minimal GNU-style argument reader: <c>--name value</c>, <c>--name=value</c>, <c>--flag</c> and positionals.
/// Every option a command reads is marked as known; anything left over is a usage error.
/// </summary>
internal sealed class Args
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private readonly List<string> _positionals = [];
    private int _positionalsRead;

    public Args(IEnumerable<string> args, IReadOnlySet<string> flags)
    {
        var list = args.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            string a = list[i];
            if (a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2)
            {
                string name = a[2..];
                string? value = null;
                int eq = name.IndexOf('=', StringComparison.Ordinal);
                if (eq >= 0)
                {
                    value = name[(eq + 1)..];
                    name = name[..eq];
                }
                else if (!flags.Contains(name))
                {
                    if (i + 1 >= list.Count)
                    {
                        throw new UsageException($"option --{name} needs a value");
                    }
                    value = list[++i];
                }
                if (!_options.TryAdd(name, value))
                {
                    throw new UsageException($"option --{name} is given more than once");
                }
            }
            else
            {
                _positionals.Add(a);
            }
        }
    }

    public bool Flag(string name)
    {
        _used.Add(name);
        return _options.ContainsKey(name);
    }

    public string? Option(string name)
    {
        _used.Add(name);
        return _options.TryGetValue(name, out var v) ? v : null;
    }

    public string Option(string name, string fallback) => Option(name) ?? fallback;

    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        string? s = Option(name);
        if (s is null)
        {
            return fallback;
        }
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v))
        {
            throw new UsageException($"--{name} must be an integer; got '{s}'");
        }
        if (v < min || v > max)
        {
            throw new UsageException($"--{name} must be between {min} and {max}; got {v}");
        }
        return v;
    }

    public double Double(string name, double fallback, double min = double.NegativeInfinity, double max = double.PositiveInfinity)
    {
        string? s = Option(name);
        if (s is null)
        {
            return fallback;
        }
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
        {
            throw new UsageException($"--{name} must be a number; got '{s}'");
        }
        if (v < min || v > max)
        {
            throw new UsageException($"--{name} must be between {min} and {max}; got {v}");
        }
        return v;
    }

    /// <summary>A comma- or x-separated list of integers (e.g. <c>1,0,1,0</c> or <c>4x4</c>).</summary>
    public int[]? IntList(string name)
    {
        string? s = Option(name);
        return s is null ? null : ParseIntList(s, name);
    }

    public static int[] ParseIntList(string s, string name)
    {
        var parts = s.Split([',', 'x', 'X'], StringSplitOptions.TrimEntries);
        var result = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out result[i]))
            {
                throw new UsageException($"--{name} must be a list of integers such as 2 or 2,1 or 4x4; got '{s}'");
            }
        }
        return result;
    }

    public string? Positional() => _positionalsRead < _positionals.Count ? _positionals[_positionalsRead++] : null;

    /// <summary>Fails on any option or positional that the command did not read.</summary>
    public void EnsureAllUsed()
    {
        foreach (var name in _options.Keys)
        {
            if (!_used.Contains(name))
            {
                throw new UsageException($"unknown option --{name}");
            }
        }
        if (_positionalsRead < _positionals.Count)
        {
            throw new UsageException($"unexpected argument '{_positionals[_positionalsRead]}'");
        }
    }
}
