using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace SpamFilter.Data;

/// <summary>
/// Reduces a raw RFC 822 message to what the classifier reads: the decoded subject, then the body's text. Headers other than
/// the subject are dropped; MIME parts are walked (text/plain preferred, text/html reduced to text, attachments skipped);
/// base64 and quoted-printable are decoded with the part's charset; whitespace is collapsed.
/// </summary>
public static partial class EmailText
{
    private const int MaxDepth = 8;

    static EmailText() => Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);

    /// <summary><c>subject + "\n" + body text</c>, at most <paramref name="maxChars"/> characters.</summary>
    public static string Extract(string raw, int maxChars = 2000)
    {
        ArgumentNullException.ThrowIfNull(raw);
        var (headers, body) = SplitHeaders(raw);
        string subject = Collapse(DecodeWords(Header(headers, "Subject") ?? ""));
        string text = Collapse(BodyText(headers, body, 0));
        string result = subject.Length == 0 ? text : subject + "\n" + text;
        return result.Length <= maxChars ? result : result[..maxChars];
    }

    /// <summary>Headers (unfolded, in order) and the body, split at the first empty line.</summary>
    internal static (List<(string Name, string Value)> Headers, string Body) SplitHeaders(string message)
    {
        var text = message.Replace("\r\n", "\n", StringComparison.Ordinal);
        int end = text.IndexOf("\n\n", StringComparison.Ordinal);
        string head = end < 0 ? text : text[..end];
        string body = end < 0 ? "" : text[(end + 2)..];
        var headers = new List<(string, string)>();
        foreach (var line in head.Split('\n'))
        {
            if (line.Length > 0 && (line[0] == ' ' || line[0] == '\t') && headers.Count > 0)
            {
                var (n, v) = headers[^1];
                headers[^1] = (n, v + " " + line.Trim());
                continue;
            }
            int colon = line.IndexOf(':');
            if (colon <= 0 || line[..colon].Contains(' ', StringComparison.Ordinal)) continue; // the mbox "From " line, or junk
            headers.Add((line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }
        return (headers, body);
    }

    private static string? Header(List<(string Name, string Value)> headers, string name) =>
        headers.Where(h => string.Equals(h.Name, name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();

    private static string? Parameter(string? headerValue, string name)
    {
        if (headerValue is null) return null;
        var m = Regex.Match(headerValue, $@"(?:^|;)\s*{name}\s*=\s*(?:""([^""]*)""|([^;\s]+))", RegexOptions.IgnoreCase);
        return !m.Success ? null : m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value;
    }

    private static string BodyText(List<(string Name, string Value)> headers, string body, int depth)
    {
        string? contentType = Header(headers, "Content-Type");
        string media = (contentType ?? "text/plain").Split(';')[0].Trim().ToLowerInvariant();
        if (media.StartsWith("multipart/", StringComparison.Ordinal) && depth < MaxDepth && Parameter(contentType, "boundary") is { Length: > 0 } boundary)
        {
            var parts = Parts(body, boundary).Select(p => SplitHeaders(p)).ToList();
            var texts = parts.Select(p => (Media: (Header(p.Headers, "Content-Type") ?? "text/plain").Split(';')[0].Trim().ToLowerInvariant(), Text: BodyText(p.Headers, p.Body, depth + 1)))
                .Where(p => p.Text.Length > 0).ToList();
            // multipart/alternative carries the same text twice: take the plain version when there is one.
            var plain = texts.Where(t => t.Media != "text/html").ToList();
            return string.Join("\n", (plain.Count > 0 ? plain : texts).Select(t => t.Text));
        }
        if (!media.StartsWith("text/", StringComparison.Ordinal) && !media.StartsWith("multipart/", StringComparison.Ordinal)) return ""; // an attachment
        string decoded = Decode(body, Header(headers, "Content-Transfer-Encoding"), Parameter(contentType, "charset"));
        return media == "text/html" || LooksLikeHtml(decoded) ? HtmlToText(decoded) : decoded;
    }

    private static IEnumerable<string> Parts(string body, string boundary)
    {
        var delimiter = "--" + boundary;
        var chunks = body.Split(delimiter, StringSplitOptions.None);
        // chunks[0] is the preamble; a chunk starting with "--" follows the closing delimiter (the epilogue).
        for (int i = 1; i < chunks.Length; i++)
        {
            if (chunks[i].StartsWith("--", StringComparison.Ordinal)) yield break;
            yield return chunks[i].TrimStart('\n', '\r', ' ', '\t');
        }
    }

    private static string Decode(string body, string? transferEncoding, string? charset)
    {
        var encoding = (transferEncoding ?? "").Trim().ToLowerInvariant();
        byte[]? bytes = null;
        if (encoding == "base64")
        {
            // Keep the alphabet only, then re-pad: line breaks, stray characters and lost padding are common in old mail.
            var clean = new string(body.Where(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '/').ToArray());
            if (clean.Length % 4 == 1) clean = clean[..^1];
            clean = clean.PadRight((clean.Length + 3) / 4 * 4, '=');
            try { bytes = Convert.FromBase64String(clean); }
            catch (FormatException) { return ""; }
        }
        else if (encoding == "quoted-printable")
        {
            bytes = QuotedPrintable(body);
        }
        return bytes is null ? body : CharsetOf(charset).GetString(bytes);
    }

    private static byte[] QuotedPrintable(string text)
    {
        var bytes = new List<byte>(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '=' && i + 1 < text.Length && text[i + 1] == '\n') { i++; continue; }        // soft line break
            if (c == '=' && i + 2 < text.Length && Uri.IsHexDigit(text[i + 1]) && Uri.IsHexDigit(text[i + 2]))
            {
                bytes.Add(Convert.ToByte(text.Substring(i + 1, 2), 16));
                i += 2;
                continue;
            }
            if (c < 256) bytes.Add((byte)c);
            else bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
        }
        return bytes.ToArray();
    }

    private static Encoding CharsetOf(string? charset)
    {
        if (string.IsNullOrWhiteSpace(charset)) return Encoding.Latin1;
        try { return Encoding.GetEncoding(charset.Trim()); }
        catch (ArgumentException) { return Encoding.Latin1; }
    }

    /// <summary>Decodes RFC 2047 encoded words (<c>=?iso-8859-1?Q?caf=E9?=</c>, <c>=?utf-8?B?...?=</c>) in a header.</summary>
    internal static string DecodeWords(string header) =>
        EncodedWord().Replace(header, m =>
        {
            var encoding = CharsetOf(m.Groups[1].Value);
            var payload = m.Groups[3].Value;
            try
            {
                return m.Groups[2].Value.ToUpperInvariant() == "B"
                    ? encoding.GetString(Convert.FromBase64String(payload))
                    : encoding.GetString(QuotedPrintable(payload.Replace('_', ' ')));
            }
            catch (FormatException) { return m.Value; }
        });

    private static bool LooksLikeHtml(string text) => text.Contains("<html", StringComparison.OrdinalIgnoreCase) || text.Contains("<body", StringComparison.OrdinalIgnoreCase);

    /// <summary>Drops scripts, styles, comments and tags, and decodes entities.</summary>
    internal static string HtmlToText(string html)
    {
        var text = ScriptOrStyle().Replace(html, " ");
        text = Comment().Replace(text, " ");
        text = Tag().Replace(text, " ");
        return WebUtility.HtmlDecode(text);
    }

    private static string Collapse(string text) => Whitespace().Replace(text, " ").Trim();

    [GeneratedRegex(@"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")]
    private static partial Regex EncodedWord();

    [GeneratedRegex(@"<(script|style)\b[^>]*>.*?</\1\s*>", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex ScriptOrStyle();

    [GeneratedRegex(@"<!--.*?-->", RegexOptions.Singleline)]
    private static partial Regex Comment();

    [GeneratedRegex(@"<[^>]*>", RegexOptions.Singleline)]
    private static partial Regex Tag();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
