/// Percentile bootstrap confidence intervals for a mean score and for the paired difference of two
/// systems' scores on the same questions (`readapt eval --compare`). Resampling is driven by a
/// seeded SplitMix64 so an interval is a pure function of (scores, resamples, confidence, seed), and
/// scripts/fixtures/make_metric_fixtures.py reproduces the exact index stream in Python.

public enum BootstrapError: Error, CustomStringConvertible, Equatable {
    case noScores
    case lengthMismatch(first: Int, second: Int)
    case idMismatch(id: String)
    case invalidResamples(Int)
    case invalidConfidence(Double)

    public var description: String {
        switch self {
        case .noScores:
            return "There are no scores to bootstrap."
        case let .lengthMismatch(first, second):
            return "The paired comparison needs the same questions in both lists, but one has \(first) scores and the other \(second)."
        case let .idMismatch(id):
            return "The paired comparison needs the same question ids in both lists, but \"\(id)\" is in only one of them."
        case let .invalidResamples(n):
            return "The number of bootstrap resamples must be at least 1, not \(n)."
        case let .invalidConfidence(c):
            return "The confidence level must lie strictly between 0 and 1, not \(c)."
        }
    }
}

/// A mean with its bootstrap interval [lower, upper] at `confidence`.
public struct BootstrapInterval: Equatable, Sendable {
    public var mean: Double
    public var lower: Double
    public var upper: Double
    public var confidence: Double
    public var resamples: Int
}

public enum Bootstrap {
    /// The mean of `scores` with a percentile bootstrap interval: `resamples` resamples of size n
    /// drawn with replacement, their means sorted, and the (1−c)/2 and (1+c)/2 quantiles taken with
    /// numpy.percentile's default linear interpolation.
    public static func meanInterval(
        _ scores: [Double], resamples: Int = 1000, confidence: Double = 0.95, seed: UInt64 = 0
    ) throws -> BootstrapInterval {
        guard !scores.isEmpty else { throw BootstrapError.noScores }
        guard resamples >= 1 else { throw BootstrapError.invalidResamples(resamples) }
        guard confidence > 0, confidence < 1 else { throw BootstrapError.invalidConfidence(confidence) }
        var rng = SplitMix64(seed: seed)
        let n = scores.count
        var means = [Double](repeating: 0, count: resamples)
        for b in 0..<resamples {
            var sum = 0.0
            for _ in 0..<n { sum += scores[rng.nextIndex(below: n)] }
            means[b] = sum / Double(n)
        }
        means.sort()
        let alpha = (1 - confidence) / 2
        return BootstrapInterval(
            mean: mean(scores),
            lower: percentile(sorted: means, fraction: alpha),
            upper: percentile(sorted: means, fraction: 1 - alpha),
            confidence: confidence, resamples: resamples)
    }

    /// The mean of a − b over paired scores (same questions, same order) with a paired bootstrap
    /// interval: each resample draws question indices and averages the per-question differences.
    /// Identical lists give exactly 0 with the interval [0, 0].
    public static func pairedDifference(
        _ a: [Double], _ b: [Double], resamples: Int = 1000, confidence: Double = 0.95, seed: UInt64 = 0
    ) throws -> BootstrapInterval {
        guard a.count == b.count else { throw BootstrapError.lengthMismatch(first: a.count, second: b.count) }
        return try meanInterval(zip(a, b).map { $0 - $1 }, resamples: resamples, confidence: confidence, seed: seed)
    }

    /// `pairedDifference` keyed by question id: pairs are matched by id (ordered by `a`'s ids sorted
    /// lexicographically by scalars, so the result does not depend on dictionary order).
    public static func pairedDifference(
        byID a: [String: Double], _ b: [String: Double],
        resamples: Int = 1000, confidence: Double = 0.95, seed: UInt64 = 0
    ) throws -> BootstrapInterval {
        if let missing = a.keys.first(where: { b[$0] == nil }) ?? b.keys.first(where: { a[$0] == nil }) {
            throw BootstrapError.idMismatch(id: missing)
        }
        let ids = a.keys.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
        return try pairedDifference(ids.map { a[$0]! }, ids.map { b[$0]! },
                                    resamples: resamples, confidence: confidence, seed: seed)
    }

    /// Sequential left-to-right mean (the Python reference sums the same way).
    static func mean(_ values: [Double]) -> Double {
        var sum = 0.0
        for v in values { sum += v }
        return sum / Double(values.count)
    }

    /// numpy's "linear" percentile of sorted data, including its two-sided lerp (for weights ≥ 0.5
    /// it interpolates back from the upper neighbour), so the doubles match numpy's exactly.
    static func percentile(sorted v: [Double], fraction q: Double) -> Double {
        let virtual = Double(v.count - 1) * q
        let lowerIndex = min(max(Int(virtual.rounded(.down)), 0), v.count - 1)
        let upperIndex = min(lowerIndex + 1, v.count - 1)
        let gamma = virtual - virtual.rounded(.down)
        let a = v[lowerIndex], b = v[upperIndex]
        let diff = b - a
        return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma
    }
}
