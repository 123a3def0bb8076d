using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;
using SingLoRA.Common;

namespace SingLoRA.Analyzers.Sizes;

/// <summary>
/// Follows layer sizes through a compilation, as far as they are compile-time facts: constants and <c>const</c>
/// fields, constructor arguments, locals and fields assigned once, object initializers and <c>with</c>, config
/// records and classes (positional parameters, property initializers, expression-bodied properties), static readonly
/// fields, and integer arithmetic. Anything else is <see cref="SizeValue.Unknown"/>, so a size known only at run time
/// never produces a report. One instance per compilation (it caches semantic models); one <see cref="Query"/> per check.
/// </summary>
internal sealed class SizeEvaluator
{
    private readonly ConcurrentDictionary<SyntaxTree, SemanticModel> _models = new();
    private readonly ConcurrentDictionary<INamedTypeSymbol, bool> _reaches = new(SymbolEqualityComparer.Default);

    public SizeEvaluator(KnownSymbols symbols)
    {
        Symbols = symbols;
    }

    public KnownSymbols Symbols { get; }

    /// <summary>The operation of <paramref name="node"/> (semantic models are cached per tree for the whole compilation).</summary>
    public IOperation? Operation(SyntaxNode node, CancellationToken cancellationToken)
    {
        if (!Symbols.Compilation.ContainsSyntaxTree(node.SyntaxTree))
            return null;
#pragma warning disable RS1030 // The size checks follow constructors across files; one cached model per tree, not one per call.
        var model = _models.GetOrAdd(node.SyntaxTree, tree => Symbols.Compilation.GetSemanticModel(tree));
#pragma warning restore RS1030
        return model.GetOperation(node, cancellationToken);
    }

    /// <summary>
    /// True when building <paramref name="type"/> builds (itself or through the objects its constructors create) a
    /// <c>[SingLoRA]</c> class: only creations of such types are worth following.
    /// </summary>
    public bool ReachesAnnotated(INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        type = type.OriginalDefinition;
        if (_reaches.TryGetValue(type, out var known))
            return known;
        var result = Reaches(type, new HashSet<INamedTypeSymbol>(SymbolEqualityComparer.Default), cancellationToken);
        _reaches[type] = result;
        return result;
    }

    private bool Reaches(INamedTypeSymbol type, HashSet<INamedTypeSymbol> visiting, CancellationToken cancellationToken)
    {
        if (Symbols.FindAttribute(type) is not null)
            return true;
        if (type.TypeKind != TypeKind.Class || type.DeclaringSyntaxReferences.Length == 0 || !visiting.Add(type) || visiting.Count > 64)
            return false;
        foreach (var node in ConstructionSyntax(type, cancellationToken))
        {
            if (Operation(node, cancellationToken) is not { } operation)
                continue;
            foreach (var creation in operation.DescendantsAndSelf().OfType<IObjectCreationOperation>())
            {
                if (creation.Type is INamedTypeSymbol created
                    && (_reaches.TryGetValue(created.OriginalDefinition, out var r) ? r : Reaches(created.OriginalDefinition, visiting, cancellationToken)))
                    return true;
            }
        }
        return false;
    }

    /// <summary>The syntax that runs when <paramref name="type"/> is built: its constructors and instance initializers.</summary>
    private static IEnumerable<SyntaxNode> ConstructionSyntax(INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        foreach (var constructor in type.InstanceConstructors)
        {
            foreach (var reference in constructor.DeclaringSyntaxReferences)
            {
                if (reference.GetSyntax(cancellationToken) is ConstructorDeclarationSyntax syntax)
                    yield return syntax;
            }
        }
        foreach (var initializer in InstanceInitializers(type, cancellationToken))
            yield return initializer.Syntax;
    }

    /// <summary>The instance field and property initializers of <paramref name="type"/>, with their members, in declaration order.</summary>
    public static IEnumerable<(ISymbol Member, EqualsValueClauseSyntax Syntax)> InstanceInitializers(INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        foreach (var member in type.GetMembers())
        {
            if (member.IsStatic || member.IsImplicitlyDeclared)
                continue;
            foreach (var reference in member.DeclaringSyntaxReferences)
            {
                var syntax = reference.GetSyntax(cancellationToken);
                var initializer = syntax switch
                {
                    VariableDeclaratorSyntax declarator => declarator.Initializer,
                    PropertyDeclarationSyntax property => property.Initializer,
                    _ => null,
                };
                if (initializer is not null && member is IFieldSymbol or IPropertySymbol)
                    yield return (member, initializer);
            }
        }
    }

    /// <summary>One check's evaluation state: a step budget and the constructions already walked.</summary>
    public Query NewQuery(CancellationToken cancellationToken) => new(this, cancellationToken);

    /// <summary>Where an expression is evaluated: the object being built (for <c>this.x</c>), the parameters, and the method body (for locals).</summary>
    internal sealed class Frame
    {
        public static readonly Frame Empty = new(null, ImmutableDictionary<IParameterSymbol, SizeValue>.Empty.WithComparers(SymbolEqualityComparer.Default), null);

        public Frame(ObjectValue? self, ImmutableDictionary<IParameterSymbol, SizeValue> parameters, IOperation? root)
        {
            Self = self;
            Parameters = parameters;
            Root = root;
        }

        public ObjectValue? Self { get; }

        public ImmutableDictionary<IParameterSymbol, SizeValue> Parameters { get; }

        public IOperation? Root { get; }

        public Frame WithRoot(IOperation? root) => new(Self, Parameters, root);
    }

    /// <summary>What building an object does: the member writes and the objects it creates, in order.</summary>
    internal sealed class Construction
    {
        public List<(ISymbol Member, IOperation Value, Frame Frame, bool Conditional)> Writes { get; } = new();

        public List<(IObjectCreationOperation Creation, Frame Frame)> Creations { get; } = new();
    }

    internal sealed class Query
    {
        private const int MaxSteps = 20_000;
        private const int MaxDepth = 24;
        private readonly SizeEvaluator _owner;
        private readonly CancellationToken _cancellationToken;
        private readonly Dictionary<ObjectValue, Construction> _constructions = new();
        private int _steps;
        private int _depth;

        public Query(SizeEvaluator owner, CancellationToken cancellationToken)
        {
            _owner = owner;
            _cancellationToken = cancellationToken;
        }

        private KnownSymbols Symbols => _owner.Symbols;

        /// <summary>The value of <paramref name="operation"/> in <paramref name="frame"/>.</summary>
        public SizeValue Eval(IOperation? operation, Frame frame)
        {
            if (operation is null || ++_steps > MaxSteps || _depth > MaxDepth)
                return SizeValue.Unknown;
            _cancellationToken.ThrowIfCancellationRequested();
            _depth++;
            try
            {
                return EvalCore(operation, frame);
            }
            finally
            {
                _depth--;
            }
        }

        private SizeValue EvalCore(IOperation operation, Frame frame)
        {
            if (operation.ConstantValue is { HasValue: true } constant)
                return AnalyzerHelpers.AsInteger(constant.Value) is { } c ? KnownValue.Constant(c) : SizeValue.Unknown;
            switch (operation)
            {
                case IConversionOperation conversion:
                    return Eval(conversion.Operand, frame);
                case IParenthesizedOperation parenthesized:
                    return Eval(parenthesized.Operand, frame);
                case IParameterReferenceOperation parameter:
                    return frame.Parameters.TryGetValue(parameter.Parameter.OriginalDefinition, out var argument) ? argument : SizeValue.Unknown;
                case ILocalReferenceOperation local:
                    return Local(local.Local, frame);
                case IFieldReferenceOperation field:
                    return MemberOf(field.Field.OriginalDefinition, field.Instance, frame);
                case IPropertyReferenceOperation property when property.Arguments.IsEmpty:
                    return MemberOf(property.Property.OriginalDefinition, property.Instance, frame);
                case IBinaryOperation binary:
                    return Binary(binary, frame);
                case IUnaryOperation { OperatorKind: UnaryOperatorKind.Minus } minus when Eval(minus.Operand, frame) is KnownValue m:
                    return new KnownValue(-m.Value, m.Origins);
                case IUnaryOperation { OperatorKind: UnaryOperatorKind.Plus } plus:
                    return Eval(plus.Operand, frame);
                case IObjectCreationOperation creation:
                    return Create(creation, frame);
                case IWithOperation with when Eval(with.Operand, frame) is ObjectValue copied:
                    return copied.WithMembers(Initialized(with.Initializer, frame));
                case IInvocationOperation invocation when IsLinearFactory(invocation.TargetMethod):
                    return new LinearValue(Eval(Argument(invocation, 0), frame), Eval(Argument(invocation, 1), frame));
                case IConditionalOperation conditional when conditional.WhenFalse is not null:
                    return Eval(conditional.WhenTrue, frame) is KnownValue t && Eval(conditional.WhenFalse, frame) is KnownValue f && t.Value == f.Value
                        ? new KnownValue(t.Value, t.Origins.Union(f.Origins)) : SizeValue.Unknown;
                default:
                    return SizeValue.Unknown;
            }
        }

        private bool IsLinearFactory(IMethodSymbol method) =>
            method.Name == "Linear" && method.IsStatic && Symbols.Nn is not null
            && SymbolEqualityComparer.Default.Equals(method.ContainingType, Symbols.Nn);

        private static IOperation? Argument(IInvocationOperation invocation, int ordinal) =>
            invocation.Arguments.FirstOrDefault(a => a.Parameter?.Ordinal == ordinal)?.Value;

        private SizeValue Binary(IBinaryOperation binary, Frame frame)
        {
            if (binary.Type is not { SpecialType: SpecialType.System_Int32 or SpecialType.System_Int64 or SpecialType.System_UInt32 or SpecialType.System_UInt64 or SpecialType.System_Int16 or SpecialType.System_UInt16 or SpecialType.System_Byte or SpecialType.System_SByte })
                return SizeValue.Unknown;
            if (Eval(binary.LeftOperand, frame) is not KnownValue left || Eval(binary.RightOperand, frame) is not KnownValue right)
                return SizeValue.Unknown;
            long a = left.Value, b = right.Value;
            long? result;
            try
            {
                result = binary.OperatorKind switch
                {
                    BinaryOperatorKind.Add => checked(a + b),
                    BinaryOperatorKind.Subtract => checked(a - b),
                    BinaryOperatorKind.Multiply => checked(a * b),
                    BinaryOperatorKind.Divide when b != 0 => a / b,
                    BinaryOperatorKind.Remainder when b != 0 => a % b,
                    BinaryOperatorKind.LeftShift when b is >= 0 and < 62 => checked(a << (int)b),
                    BinaryOperatorKind.RightShift when b is >= 0 and < 64 => a >> (int)b,
                    _ => null,
                };
            }
            catch (System.OverflowException)
            {
                result = null;
            }
            return result is { } value ? new KnownValue(value, left.Origins.Union(right.Origins)) : SizeValue.Unknown;
        }

        /// <summary>A local assigned exactly once, by its declaration, in the method body being evaluated.</summary>
        private SizeValue Local(ILocalSymbol local, Frame frame)
        {
            if (frame.Root is not { } root || local.IsRef)
                return SizeValue.Unknown;
            IOperation? initializer = null;
            int declarations = 0;
            foreach (var node in root.DescendantsAndSelf())
            {
                if (node is IVariableDeclaratorOperation declarator && Is(declarator.Symbol))
                {
                    declarations++;
                    initializer = declarator.GetVariableInitializer()?.Value;
                }
                else if (node switch
                {
                    IAssignmentOperation { Target: ILocalReferenceOperation target } => Is(target.Local),
                    IIncrementOrDecrementOperation { Target: ILocalReferenceOperation target } => Is(target.Local),
                    IArgumentOperation { Parameter.RefKind: RefKind.Ref or RefKind.Out, Value: ILocalReferenceOperation target } => Is(target.Local),
                    ILocalReferenceOperation { IsDeclaration: true } target => Is(target.Local),
                    IDeclarationPatternOperation { DeclaredSymbol: ILocalSymbol declared } => Is(declared),
                    IForEachLoopOperation loop => loop.Locals.Any(Is),
                    IDeconstructionAssignmentOperation deconstruction => deconstruction.Target.DescendantsAndSelf().OfType<ILocalReferenceOperation>().Any(t => Is(t.Local)),
                    _ => false,
                })
                {
                    return SizeValue.Unknown;
                }
            }
            return declarations == 1 && initializer is not null ? Eval(initializer, frame) : SizeValue.Unknown;

            bool Is(ISymbol? symbol) => SymbolEqualityComparer.Default.Equals(symbol, local);
        }

        /// <summary>A field or property read: of the object being built (<c>this</c>), of another object, or static.</summary>
        private SizeValue MemberOf(ISymbol member, IOperation? instance, Frame frame)
        {
            if (member.IsStatic)
                return StaticMember(member);
            var target = instance is null or IInstanceReferenceOperation ? frame.Self : Eval(instance, frame) as ObjectValue;
            return target is null ? SizeValue.Unknown : Member(target, member);
        }

        /// <summary>The value of <paramref name="member"/> of <paramref name="obj"/>, labelled with the object's origin.</summary>
        public SizeValue Member(ObjectValue obj, ISymbol member)
        {
            var value = MemberCore(obj, member.OriginalDefinition);
            return obj.Origin is { } origin && value is KnownValue known && known.Origins.IsEmpty
                ? known.From($"{origin}.{member.Name} = {known.Text}")
                : value;
        }

        private SizeValue MemberCore(ObjectValue obj, ISymbol member)
        {
            if (obj.Members.TryGetValue(member, out var set))
                return set;
            // A positional record's property is its primary constructor's parameter of the same name.
            if (obj.Type.IsRecord && member is IPropertySymbol property && obj.Constructor is { } constructor
                && property.DeclaringSyntaxReferences.Any(r => r.GetSyntax(_cancellationToken) is ParameterSyntax)
                && constructor.Parameters.FirstOrDefault(p => p.Name == property.Name) is { } parameter
                && obj.Arguments.TryGetValue(parameter.OriginalDefinition, out var positional))
                return positional;
            var construction = Build(obj);
            var writes = construction.Writes.Where(w => SymbolEqualityComparer.Default.Equals(w.Member, member)).ToList();
            if (writes.Count > 0)
            {
                var last = writes[writes.Count - 1];
                if (!last.Conditional)
                    return Eval(last.Value, last.Frame);
                var values = writes.Select(w => Eval(w.Value, w.Frame)).ToList();
                return values.All(v => Same(v, values[0])) ? values[0] : SizeValue.Unknown;
            }
            if (member is IPropertySymbol { GetMethod: { } getter })
                return Getter(getter, obj);
            return SizeValue.Unknown;
        }

        private static bool Same(SizeValue a, SizeValue b) => (a, b) switch
        {
            (KnownValue x, KnownValue y) => x.Value == y.Value,
            (LinearValue x, LinearValue y) => x.SameSizes(y),
            _ => false,
        };

        private SizeValue StaticMember(ISymbol member)
        {
            switch (member)
            {
                case IFieldSymbol { IsReadOnly: true } field:
                    foreach (var reference in field.DeclaringSyntaxReferences)
                    {
                        if (reference.GetSyntax(_cancellationToken) is VariableDeclaratorSyntax { Initializer: { } initializer }
                            && _owner.Operation(initializer, _cancellationToken) is IFieldInitializerOperation operation)
                            return Eval(operation.Value, Frame.Empty.WithRoot(operation));
                    }
                    return SizeValue.Unknown;
                case IPropertySymbol { GetMethod: { } getter, SetMethod: null }:
                    return Getter(getter, null);
                default:
                    return SizeValue.Unknown;
            }
        }

        /// <summary>A getter that returns one expression (<c>=&gt; Dim / Heads</c>), evaluated on <paramref name="self"/>.</summary>
        private SizeValue Getter(IMethodSymbol getter, ObjectValue? self)
        {
            foreach (var reference in getter.DeclaringSyntaxReferences)
            {
                SyntaxNode? body = reference.GetSyntax(_cancellationToken) switch
                {
                    ArrowExpressionClauseSyntax arrow => arrow,
                    AccessorDeclarationSyntax accessor => (SyntaxNode?)accessor.ExpressionBody ?? accessor.Body,
                    _ => null,
                };
                if (body is null || _owner.Operation(body, _cancellationToken) is not { } operation)
                    continue;
                var returns = operation.DescendantsAndSelf().OfType<IReturnOperation>().ToList();
                if (returns.Count == 1)
                    return Eval(returns[0].ReturnedValue, new Frame(self, Frame.Empty.Parameters, operation));
            }
            return SizeValue.Unknown;
        }

        private SizeValue Create(IObjectCreationOperation creation, Frame frame)
        {
            if (creation.Type is not INamedTypeSymbol type || creation.Constructor is not { } constructor)
                return SizeValue.Unknown;
            var arguments = Frame.Empty.Parameters;
            foreach (var argument in creation.Arguments)
            {
                if (argument.Parameter is { } parameter)
                    arguments = arguments.SetItem(parameter.OriginalDefinition, Eval(argument.Value, frame));
            }
            return new ObjectValue(type, constructor.OriginalDefinition, arguments, Initialized(creation.Initializer, frame), null);
        }

        /// <summary>The members an object initializer (or <c>with</c>) sets.</summary>
        private ImmutableDictionary<ISymbol, SizeValue> Initialized(IObjectOrCollectionInitializerOperation? initializer, Frame frame)
        {
            var members = ImmutableDictionary<ISymbol, SizeValue>.Empty.WithComparers(SymbolEqualityComparer.Default);
            if (initializer is null)
                return members;
            foreach (var item in initializer.Initializers)
            {
                if (item is ISimpleAssignmentOperation { Target: IMemberReferenceOperation { Member: IFieldSymbol or IPropertySymbol } target } assignment)
                    members = members.SetItem(target.Member.OriginalDefinition, Eval(assignment.Value, frame));
            }
            return members;
        }

        /// <summary>What building <paramref name="obj"/> does: its initializers and constructor chain, walked once per query.</summary>
        public Construction Build(ObjectValue obj)
        {
            if (_constructions.TryGetValue(obj, out var known))
                return known;
            var construction = new Construction();
            _constructions[obj] = construction;
            var type = obj.Type.OriginalDefinition;
            var frame = new Frame(obj, obj.Arguments.WithComparers(SymbolEqualityComparer.Default), null);
            AddConstructor(construction, type, obj.Constructor, frame, 0);
            return construction;
        }

        private void AddConstructor(Construction construction, INamedTypeSymbol type, IMethodSymbol? constructor, Frame frame, int depth)
        {
            var syntax = constructor?.DeclaringSyntaxReferences.Select(r => r.GetSyntax(_cancellationToken)).OfType<ConstructorDeclarationSyntax>().FirstOrDefault();
            var body = syntax is null ? null : _owner.Operation(syntax, _cancellationToken) as IConstructorBodyOperation;
            var chained = body?.Initializer?.DescendantsAndSelf().OfType<IInvocationOperation>().FirstOrDefault(i => i.TargetMethod.MethodKind == MethodKind.Constructor);
            if (chained is not null && SymbolEqualityComparer.Default.Equals(chained.TargetMethod.ContainingType.OriginalDefinition, type) && depth < 8)
            {
                // this(...): that constructor (with these arguments) runs first, initializers included.
                var arguments = Frame.Empty.Parameters;
                foreach (var argument in chained.Arguments)
                {
                    if (argument.Parameter is { } parameter)
                        arguments = arguments.SetItem(parameter.OriginalDefinition, Eval(argument.Value, frame.WithRoot(body)));
                }
                AddConstructor(construction, type, chained.TargetMethod.OriginalDefinition, new Frame(frame.Self, arguments, null), depth + 1);
            }
            else
            {
                foreach (var (member, initializer) in InstanceInitializers(type, _cancellationToken))
                {
                    if (_owner.Operation(initializer, _cancellationToken) is not ISymbolInitializerOperation operation)
                        continue;
                    var initializerFrame = frame.WithRoot(operation);
                    construction.Writes.Add((member.OriginalDefinition, operation.Value, initializerFrame, false));
                    foreach (var creation in operation.DescendantsAndSelf().OfType<IObjectCreationOperation>())
                        construction.Creations.Add((creation, initializerFrame));
                }
            }
            if (body is null)
                return;
            var bodyFrame = frame.WithRoot(body);
            foreach (var node in body.DescendantsAndSelf())
            {
                if (node is ISimpleAssignmentOperation { Target: IMemberReferenceOperation { Instance: IInstanceReferenceOperation, Member: IFieldSymbol or IPropertySymbol } target } assignment)
                    construction.Writes.Add((target.Member.OriginalDefinition, assignment.Value, bodyFrame, IsConditional(assignment, body)));
                else if (node is IObjectCreationOperation creation)
                    construction.Creations.Add((creation, bodyFrame));
            }
        }

        /// <summary>True when the write may not run, or may run later: inside a branch, a try, a lambda or a local function.</summary>
        private static bool IsConditional(IOperation operation, IOperation root)
        {
            for (var node = operation.Parent; node is not null && node != root; node = node.Parent)
            {
                if (node is IConditionalOperation or ISwitchOperation or ISwitchExpressionOperation or ITryOperation
                    or IAnonymousFunctionOperation or ILocalFunctionOperation or IConditionalAccessOperation or ICoalesceOperation)
                    return true;
            }
            return false;
        }
    }
}
