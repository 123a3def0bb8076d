using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using SingLoRA.Common;
using static SingLoRA.Analyzers.DiagnosticDescriptors;

namespace SingLoRA.Analyzers;

/// <summary>
/// Reports <c>SetRampStep</c> called with a negative constant on a SingLoRA module or adapter: the runtime always throws.
/// Calls inside a lambda are left alone (that is how tests assert the exception).
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class RampStepAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(NegativeRampStep);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            if (KnownSymbols.TryCreate(start.Compilation) is not { } symbols)
                return;
            start.RegisterOperationAction(operationContext =>
            {
                var invocation = (IInvocationOperation)operationContext.Operation;
                if (invocation.TargetMethod.Name != "SetRampStep" || !IsSingLoRAType(invocation.TargetMethod.ContainingType, symbols))
                    return;
                for (var ancestor = invocation.Parent; ancestor is not null; ancestor = ancestor.Parent)
                {
                    if (ancestor is IAnonymousFunctionOperation or ILocalFunctionOperation)
                        return;
                }
                foreach (var argument in invocation.Arguments)
                {
                    if (argument.Parameter is { Type.SpecialType: SpecialType.System_Int64 or SpecialType.System_Int32 }
                        && argument.Value.ConstantValue is { HasValue: true } constant
                        && AnalyzerHelpers.AsInteger(constant.Value) is < 0 and var step)
                    {
                        operationContext.ReportDiagnostic(Diagnostic.Create(NegativeRampStep, argument.Syntax.GetLocation(),
                            step.ToString(CultureInfo.InvariantCulture)));
                    }
                }
            }, OperationKind.Invocation);
        });
    }

    /// <summary>The runtime's types (SingLoRALinear, SingLoRAModuleExtensions, ISingLoRAModule), and every annotated or ISingLoRAModule class.</summary>
    private static bool IsSingLoRAType(INamedTypeSymbol? type, KnownSymbols symbols)
    {
        if (type is null)
            return false;
        if (SymbolEqualityComparer.Default.Equals(type.ContainingAssembly, symbols.Attribute.ContainingAssembly))
            return true;
        if (symbols.FindAttribute(type.OriginalDefinition) is not null)
            return true;
        return symbols.SingLoRAModule is not null && type.AllInterfaces.Contains(symbols.SingLoRAModule, SymbolEqualityComparer.Default);
    }
}
