import Foundation

/// A randomized range finder (Halko, Martinsson & Tropp 2011) whose rank answer is certified to
/// be the one an exact SVD would give, or which says it cannot certify it.
///
/// For the logical matrix M (R×C, R ≥ C: Δ or Δᵀ, whichever is taller, so the small SVD is of an
/// l×C matrix), Q (R×l) is an orthonormal basis of M·Ω, refined by power iterations, and
/// B = QᵀM (its spectrum from the Float64 Gram BBᵀ). With the residual Rs = (I − QQᵀ)M, MᵀM = BᵀB + RsᵀRs, so for every j
///   σ_i(B) ≤ σ_i(M)   and   Σ_{i≤j} σ_i(M)² ≤ Σ_{i≤j} σ_i(B)² + ‖Rs‖_F²   (Ky Fan),
/// where ‖Rs‖_F² = T − ‖B‖_F² and T = ‖M‖_F² is summed exactly in Float64. Let k_B be the
/// smallest k whose captured Σ_{i≤k} σ_i(B)² reaches τ·T. Then the exact rank is ≤ k_B, and it
/// is exactly k_B when Σ_{i<k_B} σ_i(B)² + ‖Rs‖_F² < τ·T. Both tests keep a margin of
/// `margin`·T for Float32 rounding in Q and B; a decision inside the margin is not certified.
enum RandomizedSVD {
    struct Configuration: Sendable {
        /// Columns of the first sketch; each failed attempt at least doubles it.
        var initialColumns = 32
        /// Extra columns over the rank found so far when growing the sketch.
        var oversampling = 16
        /// Power iterations (M·Mᵀ applications, re-orthonormalized) per sketch.
        var powerIterations = 1
        /// A sketch wider than this share of min(rows, columns) is not attempted: the exact
        /// (Gram) computation is then cheaper than the sketches (measured, docs/lore.md).
        var maxColumnsShare = 0.25
        /// …and never wider than this: a 64-column sketch (with its power iteration) already costs
        /// about a third of the exact Gram path on SmolLM2's shapes, so a wider one cannot pay.
        var maxColumns = 64
        /// Rounding margin, as a share of T, for both certificate inequalities.
        var margin = 1e-5
        var seed: UInt64 = 0x5EED_10AE

        static let standard = Configuration()
    }

    /// One sketch of a matrix: Q, B = QᵀM, and B's spectrum from its small Float64 Gram matrix
    /// BBᵀ (l×l, GramSVD), whose eigenvalues are the σ_i(B)² the certificate needs.
    struct Sketch {
        var rows: Int, columns: Int
        /// True when M = Δᵀ (Δ is wider than tall).
        var transposed: Bool
        var sketchColumns: Int
        /// Qᵀ: l × R row-major (Q has orthonormal columns).
        var q: [Float]
        /// B = QᵀM (l×C, row-major).
        var b: [Float]
        var spectrum: GramSVD.Spectrum
        /// ‖B‖_F², summed in Float64.
        var captured: Double
        var squaredValues: [Double] { spectrum.squaredValues }
    }

    /// The certified rank for `tau` and the sketch it came from, or nil when no sketch up to the
    /// size limit certifies it (the caller then runs the exact SVD).
    static func certifiedRank(tau: Double, rows: Int, columns: Int, matrix: UnsafePointer<Float>,
                              total: Double, configuration: Configuration = .standard) throws -> (rank: Int, sketch: Sketch)? {
        let limit = min(Int(Double(min(rows, columns)) * configuration.maxColumnsShare), configuration.maxColumns)
        guard limit >= 1, GramSVD.isAvailable else { return nil }
        var width = min(configuration.initialColumns, limit)
        let margin = configuration.margin * total
        let target = tau * total
        var attempt: UInt64 = 0
        while true {
            let sketch = try makeSketch(rows: rows, columns: columns, matrix: matrix, sketchColumns: width,
                                        powerIterations: configuration.powerIterations,
                                        seed: configuration.seed &+ attempt)
            attempt += 1
            let residual = max(total - sketch.captured, 0)
            var cumulative = 0.0
            var found: Int?
            for (i, square) in sketch.squaredValues.enumerated() {
                if cumulative + square >= target + margin { found = i + 1; break }
                cumulative += square
            }
            if let rank = found, cumulative + residual + margin < target {
                return (rank, sketch)
            }
            if width >= limit { return nil }
            // Give up early (speed only; the exact SVD decides) when even a sketch at the limit could
            // not certify: the residual must fall below the gap left under tau, and each further
            // direction can hardly capture more than the smallest value captured so far.
            if found != nil, let smallest = sketch.squaredValues.last,
               residual - Double(limit - width) * smallest >= target - cumulative - margin {
                return nil
            }
            // Not certified: grow past the rank the sketch points at, at least doubling.
            width = min(max(2 * width, (found ?? width) + configuration.oversampling), limit)
        }
    }

    /// Q and B = QᵀM for an l-column Gaussian sketch.
    ///
    /// Every tall sketch matrix is kept transposed (Yᵀ, l × R row-major), which is LAPACK's
    /// column-major R × l: the QR runs on contiguous columns with no layout conversion, and each
    /// product is one sgemm against Δ's storage with the right transpose flag.
    static func makeSketch(rows: Int, columns: Int, matrix: UnsafePointer<Float>, sketchColumns l: Int,
                           powerIterations: Int, seed: UInt64) throws -> Sketch {
        let transposed = rows < columns
        let tall = max(rows, columns), short = min(rows, columns)
        precondition(l >= 1 && l <= short, "sketch of \(l) columns for a \(rows)×\(columns) matrix")
        var generator = GaussianGenerator(seed: seed)
        let omegaT = (0..<(l * short)).map { _ in generator.next() }
        // Yᵀ = Ωᵀ·Mᵀ, then Q: orthonormal columns of Y, stored as Qᵀ.
        var qT = timesMatrixTransposed(omegaT, width: short, l: l, matrix, rows: rows, columns: columns)
        try DenseSVD.orthonormalizeColumnMajor(rows: tall, columns: l, &qT)
        for _ in 0..<powerIterations {
            // Zᵀ = Qᵀ·M (Z = MᵀQ), orthonormalized; Yᵀ = Zᵀ·Mᵀ, orthonormalized.
            var zT = timesMatrix(qT, l: l, matrix, rows: rows, columns: columns)
            try DenseSVD.orthonormalizeColumnMajor(rows: short, columns: l, &zT)
            qT = timesMatrixTransposed(zT, width: short, l: l, matrix, rows: rows, columns: columns)
            try DenseSVD.orthonormalizeColumnMajor(rows: tall, columns: l, &qT)
        }
        let b = timesMatrix(qT, l: l, matrix, rows: rows, columns: columns)   // B = QᵀM, l × short
        var captured = 0.0
        for value in b { captured += Double(value) * Double(value) }
        let spectrum = try b.withUnsafeBufferPointer {
            try GramSVD.spectrum(rows: l, columns: short, matrix: $0.baseAddress!)
        }
        guard let spectrum else { throw DenseSVD.Failure(routine: "cblas_dsyrk (not found)", info: -1) }
        return Sketch(rows: rows, columns: columns, transposed: transposed, sketchColumns: l,
                      q: qT, b: b, spectrum: spectrum, captured: captured)
    }

    /// Xᵀ·M for Xᵀ (l × R row-major, R = the taller side), M = Δ or Δᵀ (R × C): l × C row-major.
    private static func timesMatrix(_ xT: [Float], l: Int, _ matrix: UnsafePointer<Float>,
                                    rows: Int, columns: Int) -> [Float] {
        let tall = max(rows, columns), short = min(rows, columns)
        var out = [Float](repeating: 0, count: l * short)
        xT.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { o in
                GEMM.sgemm(transB: rows < columns, m: l, n: short, k: tall, a: x.baseAddress!, lda: tall,
                           b: matrix, ldb: columns, c: o.baseAddress!, ldc: short)
            }
        }
        return out
    }

    /// Xᵀ·Mᵀ for Xᵀ (l × C row-major): l × R row-major, i.e. (M·X)ᵀ.
    private static func timesMatrixTransposed(_ xT: [Float], width: Int, l: Int, _ matrix: UnsafePointer<Float>,
                                              rows: Int, columns: Int) -> [Float] {
        let tall = max(rows, columns)
        var out = [Float](repeating: 0, count: l * tall)
        xT.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { o in
                GEMM.sgemm(transB: rows >= columns, m: l, n: tall, k: width, a: x.baseAddress!, lda: width,
                           b: matrix, ldb: columns, c: o.baseAddress!, ldc: tall)
            }
        }
        return out
    }
}

/// Standard normal Float values (Box–Muller over SplitMix64): deterministic, so an extraction
/// is reproducible, and fast, because the system generator is a syscall per value on Linux.
struct GaussianGenerator {
    private var state: UInt64
    private var spare: Float?

    init(seed: UInt64) { state = seed }

    mutating func next() -> Float {
        if let value = spare { spare = nil; return value }
        let u1 = (Double(nextBits() >> 11) + 0.5) / 9_007_199_254_740_992.0
        let u2 = Double(nextBits() >> 11) / 9_007_199_254_740_992.0
        let radius = (-2 * Foundation.log(u1)).squareRoot()
        spare = Float(radius * Foundation.sin(2 * Double.pi * u2))
        return Float(radius * Foundation.cos(2 * Double.pi * u2))
    }

    private mutating func nextBits() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
