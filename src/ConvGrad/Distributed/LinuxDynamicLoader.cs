using System.Runtime.InteropServices;

namespace ConvGrad.Distributed;

/// <summary>
/// <c>dlopen</c> with <c>RTLD_NOW | RTLD_GLOBAL</c>: what a library with plugins (Open MPI) needs and what
/// <see cref="NativeLibrary.Load(string)"/> does not offer. The handle works with <see cref="NativeLibrary.TryGetExport"/>.
/// </summary>
internal static partial class LinuxDynamicLoader
{
    private const int RtldNow = 0x002;
    private const int RtldGlobal = 0x100;

    /// <summary>Opens <paramref name="library"/> (a file name searched like the dynamic linker does, or a path); 0 on failure with the loader's message.</summary>
    public static nint OpenGlobal(string library, out string? error)
    {
        nint handle = DlOpen(library, RtldNow | RtldGlobal);
        error = null;
        if (handle == 0)
        {
            nint message = DlError();
            error = message == 0 ? null : Marshal.PtrToStringUTF8(message);
        }
        return handle;
    }

    [LibraryImport("libc.so.6", EntryPoint = "dlopen", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint DlOpen(string file, int mode);

    [LibraryImport("libc.so.6", EntryPoint = "dlerror")]
    private static partial nint DlError();
}
