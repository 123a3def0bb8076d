namespace SingLoRA.Common;

/// <summary>
/// The rank bound of an adapted layer: a rank above <c>min(d_in, d_out)</c> cannot be used by the update. The one rule
/// the analyzers (SLG0002 at build time) and the runtime (every adapter kind, run-time injection, added adapters) follow;
/// linked into the runtime, so it uses nothing from Roslyn.
/// </summary>
internal static class RankBound
{
    /// <summary>The largest useful rank of a <c>[d_out, d_in]</c> layer: <c>min(d_in, d_out)</c>.</summary>
    public static long MaxRank(long inFeatures, long outFeatures) => inFeatures < outFeatures ? inFeatures : outFeatures;

    /// <summary>True when <paramref name="rank"/> fits a <c>[d_out, d_in]</c> layer.</summary>
    public static bool Fits(long rank, long inFeatures, long outFeatures) => rank <= MaxRank(inFeatures, outFeatures);

    /// <summary>Why <paramref name="rank"/> does not fit, with the fix; null when it fits.</summary>
    public static string? Problem(long rank, long inFeatures, long outFeatures)
    {
        long max = MaxRank(inFeatures, outFeatures);
        return rank <= max
            ? null
            : $"rank {rank} is larger than min(d_in, d_out) = {max} of this [{outFeatures}, {inFeatures}] layer: the update could not use the extra rank. Use a rank of at most {max}";
    }
}
