import Foundation

/// Why a low-rank factorization or a LoRE extraction could not be done.
public enum LowRankError: Error, CustomStringConvertible, Equatable {
    case notAMatrix(name: String, shape: [Int])
    case nonFinite(name: String)
    case rankTooLarge(name: String, rank: Int, rows: Int, columns: Int)
    case invalidMaxRank(Int)
    case invalidThreshold(Double)
    case invalidShare(Double)
    case notALinearWeight(name: String)
    case shapeMismatch(name: String, declared: [Int], loaded: [Int])
    case lapackFailed(name: String, routine: String, info: Int32)

    public var description: String {
        switch self {
        case .notAMatrix(let name, let shape):
            return "Tensor '\(name)' has shape \(shape), but a low-rank factorization needs a 2-D matrix."
        case .nonFinite(let name):
            return "The delta of tensor '\(name)' contains NaN or infinite values, so it has no SVD."
        case .rankTooLarge(let name, let rank, let rows, let columns):
            return "Rank \(rank) was requested for tensor '\(name)', but its \(rows)×\(columns) matrix has at most rank \(min(rows, columns))."
        case .invalidMaxRank(let value):
            return "The maximum rank must be at least 1, not \(value)."
        case .invalidThreshold(let tau):
            return "The explained-variance threshold must be in (0, 1], not \(tau)."
        case .invalidShare(let share):
            return "The parameter share must be in (0, 1], not \(share)."
        case .notALinearWeight(let name):
            return "Tensor '\(name)' does not end in '.weight', so it names no linear module a LoRA adapter can target."
        case .shapeMismatch(let name, let declared, let loaded):
            return "The delta of tensor '\(name)' has shape \(loaded), but \(declared) was declared."
        case .lapackFailed(let name, let routine, let info):
            return "LAPACK's \(routine) failed (info \(info)) on tensor '\(name)'."
        }
    }
}

/// A matrix's rank-k approximation Δ_k = B·A as LoRA factors (before any PEFT scale is folded in):
/// A = sqrt(S_k)·V_kᵀ (rank × columns) and B = U_k·sqrt(S_k) (rows × rank), both row-major.
public struct LowRankFactorization: Sendable {
    public var rows: Int
    public var columns: Int
    public var rank: Int
    public var a: [Float]
    public var b: [Float]
    /// ‖Δ‖_F² (Float64).
    public var totalVariance: Double
    /// ‖B·A‖_F² / ‖Δ‖_F²: the share of the variance the written factors keep (1 for a zero
    /// matrix, which loses nothing at rank 0).
    public var explainedVariance: Double
    /// The rank the rule chose before `maxRank` (equal to `rank` when the cap did not bite).
    public var selectedRank: Int
    /// "exact", "randomized", or "exact_fallback" (randomized could not certify the rank).
    public var solver: String
    /// Columns of the randomized sketch the factors came from (nil for the exact SVD).
    public var sketchColumns: Int?
    /// (‖Δ‖_F² − ‖QᵀΔ‖_F²) / ‖Δ‖_F²: the variance outside the sketch. By Ky Fan the factors keep
    /// at least the optimal Σ_{i≤k} s_i²/‖Δ‖_F² minus this share (nil for the exact SVD).
    public var sketchResidualShare: Double?
    /// How the exact path got its answer (nil for the other paths): "float32" (Float32 Gram, rank
    /// certified, Float64-refined factors; Float32Gram), "float64_uncertified" (the Float32 rank
    /// could not be certified, recomputed on the Float64 Gram) or "float64_high_rank" (certified,
    /// but k + 16 > min(m, n)/3, where the Float64 path's factors are cheaper).
    public var exactPrecision: String?
    /// True when the exact path recomputed the matrix on the Float64 Gram.
    public var float64Fallback: Bool { exactPrecision?.hasPrefix("float64") ?? false }

    public var rankCapped: Bool { rank < selectedRank }
}

public enum LowRank {
    /// All singular values of a 2-D matrix, descending, from an exact Float64 computation (the
    /// eigenvalues of the Float64 Gram matrix, see GramSVD; dgesdd when no BLAS dsyrk is found).
    public static func singularValues(_ matrix: Tensor, name: String = "matrix") throws -> [Double] {
        let (rows, columns) = try checkedMatrix(matrix, name: name)
        return try lapack(name) {
            try matrix.scalars.withUnsafeBufferPointer {
                if let spectrum = try GramSVD.spectrum(rows: rows, columns: columns, matrix: $0.baseAddress!) {
                    return spectrum.squaredValues.map { $0.squareRoot() }
                }
                return try DenseSVD.values(rows: rows, columns: columns, matrix: $0.baseAddress!)
            }
        }
    }

    /// The smallest k with sum_{i<=k} s_i^2 >= tau * sum s^2 (k >= 1 for a non-zero matrix, 0 for
    /// a zero matrix); `squaredSingularValues` are descending. Sums run in order, like numpy's
    /// `cumsum`, so the rank equals `argmax(cumsum(s**2) >= tau * cumsum(s**2)[-1]) + 1`.
    public static func rank(forExplainedVariance tau: Double, squaredSingularValues: [Double]) -> Int {
        let total = squaredSingularValues.reduce(0, +)
        guard total > 0 else { return 0 }
        let target = tau * total
        var cumulative = 0.0
        for (i, square) in squaredSingularValues.enumerated() {
            cumulative += square
            if cumulative >= target { return i + 1 }
        }
        return squaredSingularValues.count
    }

    /// Ranks that spend at most `share` of the total parameters (sum of rows*cols) at k(rows+cols)
    /// per matrix, chosen greedily by s_i^2 / (rows + cols) to keep the most total variance.
    ///
    /// Candidates are visited by decreasing variance per parameter (ties: earlier matrix, then
    /// lower index); within a matrix they come in index order, so every rank is a prefix. A
    /// candidate that no longer fits the budget closes its matrix. Zero values are never bought.
    public static func allocateRanks(share: Double,
                                     matrices: [(name: String, rows: Int, columns: Int, squaredSingularValues: [Double])],
                                     maxRank: Int? = nil) -> [String: Int] {
        struct Candidate { var ratio: Double; var matrix: Int; var index: Int }
        var candidates: [Candidate] = []
        for (m, matrix) in matrices.enumerated() {
            let cost = Double(matrix.rows + matrix.columns)
            let limit = min(matrix.squaredSingularValues.count, min(matrix.rows, matrix.columns), maxRank ?? Int.max)
            for i in 0..<max(limit, 0) where matrix.squaredSingularValues[i] > 0 {
                candidates.append(Candidate(ratio: matrix.squaredSingularValues[i] / cost, matrix: m, index: i))
            }
        }
        candidates.sort { lhs, rhs in
            if lhs.ratio != rhs.ratio { return lhs.ratio > rhs.ratio }
            if lhs.matrix != rhs.matrix { return lhs.matrix < rhs.matrix }
            return lhs.index < rhs.index
        }
        let budget = share * Double(matrices.reduce(0) { $0 + $1.rows * $1.columns })
        var ranks = [Int](repeating: 0, count: matrices.count)
        var closed = [Bool](repeating: false, count: matrices.count)
        var spent = 0
        for candidate in candidates where !closed[candidate.matrix] {
            let cost = matrices[candidate.matrix].rows + matrices[candidate.matrix].columns
            if Double(spent + cost) <= budget, candidate.index == ranks[candidate.matrix] {
                ranks[candidate.matrix] += 1
                spent += cost
            } else {
                closed[candidate.matrix] = true
            }
        }
        var result: [String: Int] = [:]
        for (m, matrix) in matrices.enumerated() { result[matrix.name] = ranks[m] }
        return result
    }

    /// LoRE factors of `matrix` at the smallest rank whose explained variance reaches `tau`,
    /// capped at `maxRank`. `.randomized` returns the same rank as `.exact` (certified, else it
    /// runs the exact SVD); its factors are the sketch's best rank-k approximation.
    public static func factorize(_ matrix: Tensor, name: String, tau: Double, maxRank: Int? = nil,
                                 method: SVDMethod) throws -> LowRankFactorization {
        guard tau > 0, tau <= 1 else { throw LowRankError.invalidThreshold(tau) }
        if let maxRank, maxRank < 1 { throw LowRankError.invalidMaxRank(maxRank) }
        let (rows, columns) = try checkedMatrix(matrix, name: name)
        let total = try squaredNorm(matrix, name: name)
        guard total > 0 else { return .zero(rows: rows, columns: columns) }
        return try lapack(name) {
            try matrix.scalars.withUnsafeBufferPointer { data -> LowRankFactorization in
                let pointer = data.baseAddress!
                if method == .randomized, tau < 1,
                   let (rank, sketch) = try RandomizedSVD.certifiedRank(tau: tau, rows: rows, columns: columns,
                                                                        matrix: pointer, total: total) {
                    return try factors(of: sketch, rank: min(rank, maxRank ?? rank), selectedRank: rank, total: total)
                }
                let solver = method == .randomized && tau < 1 ? "exact_fallback" : "exact"
                // Float32 Gram first: its rank is certified equal to the exact one (Float32Gram), else
                // the Float64 Gram below decides.
                var precision: String?
                if tau < 1 {
                    let spectrum = try Float32Gram.spectrum(rows: rows, columns: columns, matrix: pointer)
                    if let selected = Float32Gram.certifiedRank(spectrum, tau: tau, total: total) {
                        let k = min(selected, maxRank ?? selected)
                        guard k > 0 else { return .zero(rows: rows, columns: columns, total: total) }
                        if Float32Gram.refinesCheaply(spectrum, rank: k) {
                            let (a, b, kept) = try Float32Gram.factors(spectrum, matrix: pointer, rank: k)
                            var result = LowRankFactorization(
                                rows: rows, columns: columns, rank: k, a: a, b: b, totalVariance: total,
                                explainedVariance: kept / total, selectedRank: selected, solver: solver,
                                sketchColumns: nil, sketchResidualShare: nil)
                            result.exactPrecision = "float32"
                            return result
                        }
                        precision = "float64_high_rank"
                    } else {
                        precision = "float64_uncertified"
                    }
                }
                // τ = 1 asks for the whole non-zero part, which depends on the tiniest singular values:
                // the Gram's rounding floor (~1e-13·s₁²) would count zero directions, dgesdd does not.
                if tau < 1, let spectrum = try GramSVD.spectrum(rows: rows, columns: columns, matrix: pointer) {
                    let selected = rank(forExplainedVariance: tau, squaredSingularValues: spectrum.squaredValues)
                    var result = try factors(of: spectrum, matrix: pointer, rank: min(selected, maxRank ?? selected),
                                             selectedRank: selected, total: total, solver: solver)
                    result.exactPrecision = precision
                    return result
                }
                let svd = try DenseSVD.decompose(rows: rows, columns: columns, matrix: pointer)
                let squares = svd.values.map { $0 * $0 }
                let selected = rank(forExplainedVariance: tau, squaredSingularValues: squares)
                return factors(of: svd, rows: rows, columns: columns, rank: min(selected, maxRank ?? selected),
                               selectedRank: selected, total: total, solver: solver)
            }
        }
    }

    /// Factors of `matrix` at a fixed `rank` (the parameter-budget mode). `.randomized` uses a
    /// sketch of rank + 16 columns with two power iterations when that is within the sketch limits
    /// (RandomizedSVD.Configuration), the exact Gram path otherwise.
    public static func factorize(_ matrix: Tensor, name: String, rank: Int,
                                 method: SVDMethod) throws -> LowRankFactorization {
        let (rows, columns) = try checkedMatrix(matrix, name: name)
        guard rank >= 0, rank <= min(rows, columns) else {
            throw LowRankError.rankTooLarge(name: name, rank: rank, rows: rows, columns: columns)
        }
        let total = try squaredNorm(matrix, name: name)
        guard total > 0, rank > 0 else { return .zero(rows: rows, columns: columns, total: total) }
        return try lapack(name) {
            try matrix.scalars.withUnsafeBufferPointer { data -> LowRankFactorization in
                let pointer = data.baseAddress!
                let configuration = RandomizedSVD.Configuration.standard
                let width = rank + configuration.oversampling
                let limit = min(Int(Double(min(rows, columns)) * configuration.maxColumnsShare), configuration.maxColumns)
                if method == .randomized, width <= limit, GramSVD.isAvailable {
                    let sketch = try RandomizedSVD.makeSketch(rows: rows, columns: columns, matrix: pointer,
                                                              sketchColumns: width, powerIterations: 2,
                                                              seed: RandomizedSVD.Configuration.standard.seed)
                    return try factors(of: sketch, rank: rank, selectedRank: rank, total: total)
                }
                if let spectrum = try GramSVD.spectrum(rows: rows, columns: columns, matrix: pointer) {
                    return try factors(of: spectrum, matrix: pointer, rank: rank, selectedRank: rank, total: total,
                                       solver: "exact")
                }
                let svd = try DenseSVD.decompose(rows: rows, columns: columns, matrix: pointer)
                return factors(of: svd, rows: rows, columns: columns, rank: rank, selectedRank: rank,
                               total: total, solver: "exact")
            }
        }
    }

    // MARK: - Helpers

    static func checkedMatrix(_ matrix: Tensor, name: String) throws -> (rows: Int, columns: Int) {
        guard matrix.shape.count == 2, matrix.shape[0] > 0, matrix.shape[1] > 0 else {
            throw LowRankError.notAMatrix(name: name, shape: matrix.shape)
        }
        return (matrix.shape[0], matrix.shape[1])
    }

    /// ‖matrix‖_F² summed in Float64 (exact products, so only the additions round), refusing
    /// NaN and infinities. A Float's square never overflows a Double, so the sum is finite exactly
    /// when every value is, and the loop needs no per-element test (it vectorizes).
    static func squaredNorm(_ matrix: Tensor, name: String) throws -> Double {
        let total = matrix.scalars.withUnsafeBufferPointer { values -> Double in
            var partial = (0.0, 0.0, 0.0, 0.0)
            let count = values.count, blocked = count & ~3
            var i = 0
            while i < blocked {
                let a = Double(values[i]), b = Double(values[i + 1])
                let c = Double(values[i + 2]), d = Double(values[i + 3])
                partial.0 += a * a; partial.1 += b * b; partial.2 += c * c; partial.3 += d * d
                i += 4
            }
            while i < count { partial.0 += Double(values[i]) * Double(values[i]); i += 1 }
            return (partial.0 + partial.1) + (partial.2 + partial.3)
        }
        guard total.isFinite else { throw LowRankError.nonFinite(name: name) }
        return total
    }

    private static func lapack<R>(_ name: String, _ body: () throws -> R) throws -> R {
        do { return try body() } catch let failure as DenseSVD.Failure {
            throw LowRankError.lapackFailed(name: name, routine: failure.routine, info: failure.info)
        }
    }

    /// Factors from the Gram eigen-decomposition.
    static func factors(of spectrum: GramSVD.Spectrum, matrix: UnsafePointer<Float>, rank k: Int, selectedRank: Int,
                        total: Double, solver: String) throws -> LowRankFactorization {
        guard k > 0 else { return .zero(rows: spectrum.rows, columns: spectrum.columns, total: total) }
        let (a, b, kept) = try GramSVD.factors(spectrum, matrix: matrix, rank: k)
        return LowRankFactorization(rows: spectrum.rows, columns: spectrum.columns, rank: k, a: a, b: b,
                                    totalVariance: total, explainedVariance: kept / total, selectedRank: selectedRank,
                                    solver: solver, sketchColumns: nil, sketchResidualShare: nil)
    }

    /// Factors from the exact thin SVD (U row-major rows×p, Vᵀ row-major p×columns).
    static func factors(of svd: ThinSVD, rows: Int, columns: Int, rank k: Int, selectedRank: Int,
                        total: Double, solver: String) -> LowRankFactorization {
        let p = min(rows, columns)
        var a = [Float](repeating: 0, count: k * columns)
        var b = [Float](repeating: 0, count: rows * k)
        var kept = 0.0
        for i in 0..<k {
            let root = svd.values[i].squareRoot()
            kept += svd.values[i] * svd.values[i]
            for c in 0..<columns { a[i * columns + c] = Float(root * svd.rightTransposed[i * columns + c]) }
            for r in 0..<rows { b[r * k + i] = Float(svd.left[r * p + i] * root) }
        }
        return LowRankFactorization(rows: rows, columns: columns, rank: k, a: a, b: b, totalVariance: total,
                                    explainedVariance: kept / total, selectedRank: selectedRank,
                                    solver: solver, sketchColumns: nil, sketchResidualShare: nil)
    }

    /// Factors of the sketch's rank-k approximation Q·B_k of M (Δ or Δᵀ), B_k = b·a from B's Gram.
    static func factors(of sketch: RandomizedSVD.Sketch, rank k: Int, selectedRank: Int,
                        total: Double) throws -> LowRankFactorization {
        let rows = sketch.rows, columns = sketch.columns
        let tall = max(rows, columns), short = min(rows, columns), l = sketch.sketchColumns
        guard k > 0 else { return .zero(rows: rows, columns: columns, total: total) }
        // B_k = left·right with left (l×k) = U_B·√S and right (k×short) = √S·V_Bᵀ.
        let (right, left, kept) = try sketch.b.withUnsafeBufferPointer {
            try GramSVD.factors(sketch.spectrum, matrix: $0.baseAddress!, rank: k)
        }
        // W = Q·left (tall × k): M_k = W·right.
        var w = [Float](repeating: 0, count: tall * k)
        sketch.q.withUnsafeBufferPointer { q in
            left.withUnsafeBufferPointer { u in
                w.withUnsafeMutableBufferPointer { out in
                    GEMM.sgemm(transA: true, m: tall, n: k, k: l, a: q.baseAddress!, lda: tall, b: u.baseAddress!, ldb: k,
                               c: out.baseAddress!, ldc: k)
                }
            }
        }
        var a: [Float], b: [Float]
        if sketch.transposed {
            // Δ_k = M_kᵀ = rightᵀ·Wᵀ: B = rightᵀ (rows = short), A = Wᵀ (columns = tall).
            b = [Float](repeating: 0, count: rows * k)
            a = [Float](repeating: 0, count: k * columns)
            for i in 0..<k {
                for r in 0..<short { b[r * k + i] = right[i * short + r] }
                for c in 0..<tall { a[i * columns + c] = w[c * k + i] }
            }
        } else {
            b = w
            a = right
        }
        return LowRankFactorization(rows: rows, columns: columns, rank: k, a: a, b: b, totalVariance: total,
                                    explainedVariance: kept / total, selectedRank: selectedRank,
                                    solver: "randomized", sketchColumns: l,
                                    sketchResidualShare: max(total - sketch.captured, 0) / total)
    }
}

extension LowRankFactorization {
    /// Rank 0: nothing kept, so the share kept is 0, or 1 for a zero matrix (nothing to lose).
    static func zero(rows: Int, columns: Int, total: Double = 0) -> LowRankFactorization {
        LowRankFactorization(rows: rows, columns: columns, rank: 0, a: [], b: [], totalVariance: total,
                             explainedVariance: total > 0 ? 0 : 1, selectedRank: 0, solver: "none", sketchColumns: nil, sketchResidualShare: nil)
    }
}
