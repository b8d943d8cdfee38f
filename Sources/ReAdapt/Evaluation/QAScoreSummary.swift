/// The averaged QA metrics of a question set, each with its bootstrap interval: what `readapt eval`
/// reports. All four intervals use the same seed, so they resample the same questions.
public struct QAScoreSummary: Equatable, Sendable {
    public var count: Int
    public var contains: BootstrapInterval
    public var rougeLRecall: BootstrapInterval
    public var exactMatch: BootstrapInterval
    public var f1: BootstrapInterval

    public init(scores: [QAScores], resamples: Int = 1000, confidence: Double = 0.95, seed: UInt64 = 0) throws {
        func interval(_ metric: (QAScores) -> Double) throws -> BootstrapInterval {
            try Bootstrap.meanInterval(scores.map(metric), resamples: resamples, confidence: confidence, seed: seed)
        }
        count = scores.count
        contains = try interval(\.contains)
        rougeLRecall = try interval(\.rougeLRecall)
        exactMatch = try interval(\.exactMatch)
        f1 = try interval(\.f1)
    }
}
