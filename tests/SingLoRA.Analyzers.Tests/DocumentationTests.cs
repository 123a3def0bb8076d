using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using SingLoRA.Testing;
using Xunit;

namespace SingLoRA.Analyzers.Tests;

/// <summary>
/// One truth per diagnostic: the descriptors (analyzers and generator), their pages in docs/diagnostics, the
/// AnalyzerReleases files, the table in docs/diagnostics/README.md, the README's ID range, the help links, and
/// docs/design.md's "Not supported" list all say the same thing.
/// </summary>
public class DocumentationTests
{
    private static string Repo([CallerFilePath] string file = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, "..", ".."));

    private static string Read(params string[] path) => File.ReadAllText(Path.Combine(new[] { Repo() }.Concat(path).ToArray())).Replace("\r\n", "\n");

    /// <summary>Every descriptor with the type that reports it.</summary>
    private static readonly IReadOnlyList<(DiagnosticDescriptor Descriptor, string Reporter)> All = Descriptors().OrderBy(d => d.Descriptor.Id, StringComparer.Ordinal).ToList();

    private static IEnumerable<(DiagnosticDescriptor Descriptor, string Reporter)> Descriptors()
    {
        foreach (var analyzer in CompileHarness.AnalyzersIn(typeof(DiagnosticDescriptors).Assembly))
            foreach (var descriptor in analyzer.SupportedDiagnostics)
                yield return (descriptor, analyzer.GetType().Name);
        var generator = typeof(SingLoRA.Generator.SingLoRAGenerator).Assembly.GetType("SingLoRA.Generator.GeneratorDiagnostics", throwOnError: true)!;
        foreach (var field in generator.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static).Where(f => f.FieldType == typeof(DiagnosticDescriptor)))
            yield return ((DiagnosticDescriptor)field.GetValue(null)!, nameof(SingLoRA.Generator.SingLoRAGenerator));
    }

    private static readonly HashSet<string> Fixable = typeof(SingLoRA.CodeFixes.DocumentFixProvider).Assembly.GetTypes()
        .Where(t => !t.IsAbstract && typeof(CodeFixProvider).IsAssignableFrom(t))
        .SelectMany(t => ((CodeFixProvider)Activator.CreateInstance(t)!).FixableDiagnosticIds)
        .ToHashSet();

    [Fact]
    public void Every_id_is_reported_by_one_type_and_numbered_without_gaps()
    {
        Assert.Equal(All.Count, All.Select(d => d.Descriptor.Id).Distinct().Count());
        Assert.Equal(Enumerable.Range(1, All.Count).Select(i => $"SLG{i:0000}"), All.Select(d => d.Descriptor.Id));
        Assert.All(All, d => Assert.Equal(DiagnosticDescriptors.Category, d.Descriptor.Category));
    }

    [Fact]
    public void Each_descriptor_has_a_page_with_its_title_severity_and_reporter_and_its_help_link_points_there()
    {
        foreach (var (descriptor, reporter) in All)
        {
            var page = Read("docs", "diagnostics", descriptor.Id + ".md");
            Assert.StartsWith($"# {descriptor.Id}: {descriptor.Title}\n", page);
            Assert.Contains($"| Severity | {descriptor.DefaultSeverity} |", page);
            Assert.Contains($"| Analyzer | `{reporter}` |", page);
            Assert.EndsWith("/docs/diagnostics/" + descriptor.Id + ".md", descriptor.HelpLinkUri);
            Assert.StartsWith("https://", descriptor.HelpLinkUri);
        }
        var pages = Directory.GetFiles(Path.Combine(Repo(), "docs", "diagnostics"), "SLG*.md").Select(Path.GetFileNameWithoutExtension);
        Assert.Equal(All.Select(d => d.Descriptor.Id), pages.OrderBy(p => p, StringComparer.Ordinal));
    }

    [Fact]
    public void The_release_files_list_every_rule_with_its_severity_and_reporter()
    {
        var rows = new[] { ("analyzers", "SingLoRA.Analyzers"), ("generator", "SingLoRA.Generator") }
            .SelectMany(p => Read(p.Item1, p.Item2, "AnalyzerReleases.Unshipped.md").Split('\n'))
            .Where(l => l.StartsWith("SLG", StringComparison.Ordinal))
            .Select(l => l.Split('|').Select(c => c.Trim()).ToArray())
            .OrderBy(r => r[0], StringComparer.Ordinal)
            .Select(r => string.Join("|", r));
        Assert.Equal(All.Select(d => $"{d.Descriptor.Id}|{d.Descriptor.Category}|{d.Descriptor.DefaultSeverity}|{d.Reporter}"), rows);
    }

    [Fact]
    public void The_diagnostics_table_has_every_id_with_its_severity_title_and_whether_it_has_a_fix()
    {
        var rows = Read("docs", "diagnostics", "README.md").Split('\n')
            .Where(l => l.StartsWith("| [SLG", StringComparison.Ordinal))
            .Select(l => l.Split('|').Select(c => c.Trim()).ToArray())
            .ToList();
        Assert.Equal(All.Count, rows.Count);
        foreach (var ((descriptor, _), row) in All.Zip(rows))
        {
            Assert.Equal($"[{descriptor.Id}]({descriptor.Id}.md)", row[1]);
            Assert.Equal(descriptor.DefaultSeverity.ToString(), row[2]);
            Assert.Equal(descriptor.Title.ToString(), row[3]);
            Assert.True(Fixable.Contains(descriptor.Id) == (row[4].Length > 0), $"{descriptor.Id}: the table's code-fix column and the code fix providers disagree");
        }
    }

    [Fact]
    public void The_readme_names_the_whole_id_range()
    {
        Assert.Contains($"`SLG0001`–`{All[All.Count - 1].Descriptor.Id}`", Read("README.md"));
    }

    [Fact]
    public void The_not_supported_list_of_the_design_and_the_analyzers_agree_item_for_item()
    {
        var design = Read("docs", "design.md");
        var section = design.Substring(design.IndexOf("\n## Not supported\n", StringComparison.Ordinal));
        var next = section.IndexOf("\n## ", 5, StringComparison.Ordinal);
        if (next > 0) section = section.Substring(0, next);
        var items = Regex.Split(section, "\n- ").Skip(1).ToList();
        Assert.True(items.Count >= 8, "the list was not found");
        var cited = new HashSet<string>();
        foreach (var item in items)
        {
            var ids = Regex.Matches(item, @"SLG\d{4}").Select(m => m.Value).ToList();
            Assert.True(ids.Count > 0, "This 'Not supported' item names no diagnostic: " + item);
            cited.UnionWith(ids);
        }
        var tagged = All.Where(d => d.Descriptor.CustomTags.Contains(DiagnosticDescriptors.NotSupportedTag)).Select(d => d.Descriptor.Id).ToHashSet();
        Assert.Equal(tagged.OrderBy(i => i), cited.OrderBy(i => i));
    }
}
