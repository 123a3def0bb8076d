using System.Linq;
using SingLoRA.Generator.Models;

namespace SingLoRA.Generator.Emitting;

/// <summary>
/// Writes the interceptors of one annotated module: each <c>forward(x)</c> / <c>call(x)</c> on a <c>Linear</c> target
/// is redirected to the adapter that wraps that layer. The file declares its own file-local
/// <c>InterceptsLocationAttribute</c>, as the compiler expects.
/// </summary>
internal static class InterceptorEmitter
{
    /// <summary>The interceptors file of <paramref name="m"/>.</summary>
    public static string Emit(ModuleModel m, string generatedCode)
    {
        var w = new SourceWriter();
        ModuleEmitter.Header(w);
        w.Line("namespace System.Runtime.CompilerServices").Open();
        w.Line("[global::System.AttributeUsage(global::System.AttributeTargets.Method, AllowMultiple = true)]");
        w.Line("file sealed class InterceptsLocationAttribute(int version, string data) : global::System.Attribute").Open();
        w.Line("public int Version { get; } = version;");
        w.Line("public string Data { get; } = data;");
        w.Close();
        w.Close();
        w.Line();
        w.Line("namespace SingLoRA.Generated").Open();
        w.Line($"/// <summary>Routes the calls on {Xml(m.DisplayName)}'s <c>Linear</c> targets to their SingLoRA adapters.</summary>");
        w.Line(generatedCode);
        w.Line("file static class SingLoRAInterceptors").Open();
        bool first = true;
        foreach (var i in m.Interceptors)
        {
            if (!first) w.Line();
            first = false;
            var target = m.Targets.First(t => t.FieldName == i.FieldName);
            var name = $"{target.PropertyName.Substring(0, target.PropertyName.Length - "Adapter".Length)}_{i.MethodName}";
            if (m.Interceptors.Count(x => x.FieldName == i.FieldName && x.MethodName == i.MethodName) > 1)
                name += "_" + m.Interceptors.TakeWhile(x => !ReferenceEquals(x, i)).Count();
            foreach (var call in i.Calls)
            {
                w.Line($"// {call.Display}: {i.FieldName}.{i.MethodName}(...)");
                w.Line($"[global::System.Runtime.CompilerServices.InterceptsLocation({call.Version}, {ModuleEmitter.Quote(call.Data)})]");
            }
            w.Line($"public static global::TorchSharp.torch.Tensor {name}(this {i.ReceiverType} @this, global::TorchSharp.torch.Tensor input)");
            w.Indent();
            w.Line($"=> global::SingLoRA.Generation.InterceptedCalls.Route((global::TorchSharp.Modules.Linear)@this, {ModuleEmitter.Quote(m.DisplayName + "." + i.FieldName)}).{i.MethodName}(input);");
            w.Dedent();
        }
        w.Close();
        w.Close();
        return w.ToString();
    }

    private static string Xml(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
