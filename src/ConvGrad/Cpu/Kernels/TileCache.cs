using System.Runtime.CompilerServices;

namespace ConvGrad.Cpu.Kernels;

/// <summary>
/// The entry points of the last two tile shapes a kernel resolved (<see cref="Tiles.Resolve"/>): a row of tiles has
/// at most two shapes (the full tiles and the last one), so each is resolved once per call, not once per tile.
/// A kernel keeps one as a local.
/// </summary>
/// <typeparam name="TK">The tile.</typeparam>
/// <typeparam name="TArgs">Its operands.</typeparam>
/// <typeparam name="TI">The instruction set.</typeparam>
/// <typeparam name="TV">Its vector type.</typeparam>
internal unsafe struct TileCache<TK, TArgs, TI, TV>
    where TK : ITile<TArgs> where TArgs : struct where TI : struct, ISimdIsa<TV> where TV : struct
{
    private int _key0, _key1;
    private delegate*<ref TArgs, void> _fn0, _fn1;

    /// <summary>Runs the tile of shape (<paramref name="s1"/>, …, <paramref name="s5"/>, each 0..16) on <paramref name="a"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Run(int s1, int s2, int s3, int s4, int s5, ref TArgs a)
    {
        // 1 + the shape in base 17, so the default 0 is never a shape.
        int key = 1 + ((((s1 * 17 + s2) * 17 + s3) * 17 + s4) * 17 + s5);
        if (key == _key0)
        {
            _fn0(ref a);
            return;
        }
        if (key != _key1)
        {
            _key1 = key;
            _fn1 = Tiles.Resolve<TK, TArgs, TI, TV>(s1, s2, s3, s4, s5);
        }
        // The most recent shape goes first.
        int key0 = _key0;
        delegate*<ref TArgs, void> fn0 = _fn0;
        _key0 = _key1;
        _fn0 = _fn1;
        _key1 = key0;
        _fn1 = fn0;
        _fn0(ref a);
    }
}
