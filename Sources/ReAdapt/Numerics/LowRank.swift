import Foundation

// INTEGRATION STUB (session 2): the lore branch replaces every body below.

public enum LowRankError: Error, CustomStringConvertible, Equatable {
    case notImplemented
    public var description: String { "LoRE is not implemented yet." }
}

public enum LowRank {
    /// All singular values of a 2-D matrix, descending, from an exact SVD.
    public static func singularValues(_ matrix: Tensor) throws -> [Double] {
        throw LowRankError.notImplemented
    }

    /// The smallest k with sum_{i<=k} s_i^2 >= tau * sum s^2 (k >= 1 for a non-zero matrix, 0 for
    /// a zero matrix); `squaredSingularValues` are descending.
    public static func rank(forExplainedVariance tau: Double, squaredSingularValues: [Double]) -> Int {
        0
    }

    /// Ranks that spend at most `share` of the total parameters (sum of rows*cols) at k(rows+cols)
    /// per matrix, chosen greedily by s_i^2 / (rows + cols) to keep the most total variance.
    public static func allocateRanks(share: Double,
                                     matrices: [(name: String, rows: Int, columns: Int, squaredSingularValues: [Double])],
                                     maxRank: Int? = nil) -> [String: Int] {
        [:]
    }
}
