using System;
using System.Text.RegularExpressions;

namespace SingLoRA.Robustness.Tests;

/// <summary>
/// Turns a realistic model file into what it looks like mid-edit in an IDE: cut short, with braces missing,
/// half-typed attributes, wrong argument types, unknown base classes, duplicated members, odd containers, forward passes
/// of a layer written in a shape the interceptors do not cover.
/// Deterministic for a given <see cref="Random"/>.
/// </summary>
internal static class Mutator
{
    public const int OperationCount = 10;

    private static readonly string[] Tokens =
    {
        "{", "}", "(", ")", ";", ",", "[", "]", "<", ">", "\"", "'", "=", "=>", ".", "@", "/*", "//", "#if X\n", "#endif\n",
        "[SingLoRA(Rank = ", "[SingLoRA]", "[SingLoRA(Rank = 8, Targets = \"q,k\")]", "[SingLoRA(", "[SingLoRA(Rank = 8)][SingLoRA(Rank = 4)]",
        "Rank = \"8\"", "Rank = 0", "Rank = -3", "Rank = int.MaxValue", "Rank = nameof(Rank)", "Targets = null", "Targets = 42",
        "Targets = \"\"", "Targets = \",,\"", "Targets = \"q,q\"", "Alpha = -1", "Alpha = double.NaN", "Dropout = 2", "RampLength = -5",
        "Scaling = (ScalingRule)9", "Init = (AdapterInit)(-1)", "Init = ", "LayerIndex = nameof(q)", "LayerIndex = \"idx\"", "LayerIndex = null",
        "Layers = \"0-3, 8\"", "Layers = \"3-1\"", "Layers = \",x\"", "Layers = \"\"", "public int idx;", "private long idx = 2;", "idx = 1;", "partial ", "static ", "readonly ", "sealed ", "abstract ",
        "<T>", "<T, U>", " where T : new()", ": UnknownBase", ": Module<Tensor, Tensor>", ": torch.nn.Module", ": System.Reflection.Module",
        "public Linear q;", "private Module<Tensor, Tensor> k = Linear(4, 8);", "public Linear q => null!;", "public int QAdapter;",
        "public void AdvanceRamp() { }", "public override Tensor forward(Tensor x) => x;", "protected override void RegisterComponents() { }",
        "class Nested { ", "partial class Inner<T> : Module<Tensor, Tensor> { ", "RegisterComponents();", "q.forward(", "k.call(x)", ".forward",
        "SetRampStep(-1);", "this.", "base.", "new()", "Linear(", "Linear(0, 0)", "Linear(8, -1)", "global::", "unsafe ", "file ", "record ",
        "struct ", "interface ", "dynamic ", "default", "var ", "1e400", "0x", "\\u0041", "$\"{", "nameof(", "typeof(", "?", "!", "null",
    };

    public static string Mutate(string source, Random rng)
    {
        int operations = rng.Next(1, 5);
        for (int i = 0; i < operations && source.Length > 0; i++)
            source = Apply(rng.Next(OperationCount), source, rng);
        return source;
    }

    private static string Apply(int operation, string s, Random rng)
    {
        switch (operation)
        {
            case 0: // cut short, as while typing at the end of a file
                return s[..rng.Next(s.Length)];
            case 1: // delete a span
            {
                int start = rng.Next(s.Length);
                return s.Remove(start, Math.Min(rng.Next(1, 40), s.Length - start));
            }
            case 2: // delete one piece of punctuation
            {
                var matches = Regex.Matches(s, "[{}()\\[\\];,\"<>=]");
                return matches.Count == 0 ? s : s.Remove(matches[rng.Next(matches.Count)].Index, 1);
            }
            case 3: // insert a token
                return s.Insert(rng.Next(s.Length + 1), Tokens[rng.Next(Tokens.Length)]);
            case 4: // duplicate a line (duplicate members, attributes, fields)
            {
                var lines = s.Split('\n');
                int i = rng.Next(lines.Length);
                return string.Join('\n', lines[..(i + 1)]) + "\n" + lines[i] + (i + 1 < lines.Length ? "\n" + string.Join('\n', lines[(i + 1)..]) : "");
            }
            case 5: // swap two lines
            {
                var lines = s.Split('\n');
                int a = rng.Next(lines.Length), b = rng.Next(lines.Length);
                (lines[a], lines[b]) = (lines[b], lines[a]);
                return string.Join('\n', lines);
            }
            case 6: // rename an identifier somewhere (a target field, a type, a method)
            {
                var words = Regex.Matches(s, "\\b[A-Za-z_][A-Za-z0-9_]*\\b");
                if (words.Count < 2) return s;
                var from = words[rng.Next(words.Count)];
                var to = words[rng.Next(words.Count)].Value;
                return s.Remove(from.Index, from.Length).Insert(from.Index, rng.Next(3) == 0 ? to + "_x" : to);
            }
            case 7: // rewrite the attribute's arguments with a random mix
            {
                var match = Regex.Match(s, "\\[SingLoRA\\(([^\\]]*)\\)\\]");
                if (!match.Success) return s;
                string args = string.Join(", ", new[] { "Rank = 8", "Targets = \"q,k\"", Tokens[rng.Next(Tokens.Length)], Tokens[rng.Next(Tokens.Length)] }[..rng.Next(1, 5)]);
                return s.Remove(match.Groups[1].Index, match.Groups[1].Length).Insert(match.Groups[1].Index, args);
            }
            case 9: // a forward pass the interceptors do not cover: null-conditional (q?.forward(x)) or through a cast (((Linear)q).call(x))
            {
                var calls = Regex.Matches(s, "\\b([A-Za-z_][A-Za-z0-9_]*)\\.(forward|call)\\(");
                if (calls.Count == 0) return s;
                var call = calls[rng.Next(calls.Count)];
                var field = call.Groups[1].Value;
                var rewritten = rng.Next(2) == 0 ? $"{field}?.{call.Groups[2].Value}(" : $"((Linear){field}).{call.Groups[2].Value}(";
                return s.Remove(call.Index, call.Length).Insert(call.Index, rewritten);
            }
            default: // wrap everything in a generic or nested container
                return rng.Next(2) == 0
                    ? s.Replace("namespace ", "public partial class Wrapper<TW> {\n// namespace ") + "\n}"
                    : s + "\npublic partial class Extra : Module<Tensor, Tensor> { [SingLoRA(Rank = 2, Targets = \"a\")] partial class Deep { } }";
        }
    }
}
