using System;
using System.IO;
using System.Threading;

namespace SingLoRA.AdapterFiles;

/// <summary>
/// Atomic file replacement: write to a temporary file in the target's folder, flush it to disk, then rename it over the
/// target. A failure (or a crash) before the rename leaves the previous file untouched; the temporary file is deleted
/// on a failure that the process survives.
/// </summary>
internal static class AtomicFile
{
    /// <summary>The prefix of temporary files; loaders ignore such files.</summary>
    internal const string TempPrefix = ".singlora-tmp-";

    /// <summary>
    /// Test seam: wraps the temporary file's stream (for example in a stream that fails after some bytes, simulating
    /// an interrupted save). Flows with the async context, so a test sets it only for its own saves.
    /// </summary>
    internal static readonly AsyncLocal<Func<Stream, Stream>?> WrapStreamForTests = new();

    /// <summary>Writes <paramref name="path"/> atomically with <paramref name="write"/>.</summary>
    internal static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' has no folder.", nameof(path));
        Directory.CreateDirectory(directory);
        string temp = Path.Combine(directory, TempPrefix + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N"));
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                var wrap = WrapStreamForTests.Value;
                var stream = wrap is null ? file : wrap(file);
                write(stream);
                stream.Flush();
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
