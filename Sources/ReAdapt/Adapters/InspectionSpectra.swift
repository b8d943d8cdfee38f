import Foundation

/// One linear matrix's spectrum as `inspect` reports it.
public struct MatrixSpectrum: Codable, Equatable, Sendable {
    public var name: String
    /// The decoder layer (`model.layers.N.`), nil outside the layers.
    public var layer: Int?
    /// The module's own name (q_proj, k_proj, ..., down_proj).
    public var type: String
    public var rows: Int
    public var columns: Int
    /// v_k = sum_{i<=k} s_i^2 / sum s^2 for k = 1...min(rows, columns) (all 1 for a zero matrix).
    public var explainedVariance: [Double]
    /// s_i^2, descending (not in --json: v_k carries the same information).
    public var squaredSingularValues: [Double]

    enum CodingKeys: String, CodingKey {
        case name, layer, type, rows, columns
        case explainedVariance = "explained_variance"
    }

    public init(name: String, rows: Int, columns: Int, singularValues: [Double]) {
        self.name = name
        self.rows = rows
        self.columns = columns
        let parts = name.split(separator: ".").map(String.init)
        layer = parts.firstIndex(of: "layers").flatMap { $0 + 1 < parts.count ? Int(parts[$0 + 1]) : nil }
        let module = parts.last == "weight" ? parts.dropLast() : parts[...]
        type = module.last ?? name
        squaredSingularValues = singularValues.map { $0 * $0 }
        let total = squaredSingularValues.reduce(0, +)
        var running = 0.0
        explainedVariance = squaredSingularValues.map { s2 in
            running += s2
            return total > 0 ? running / total : 1
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        layer = try c.decodeIfPresent(Int.self, forKey: .layer)
        type = try c.decode(String.self, forKey: .type)
        rows = try c.decode(Int.self, forKey: .rows)
        columns = try c.decode(Int.self, forKey: .columns)
        explainedVariance = try c.decode([Double].self, forKey: .explainedVariance)
        squaredSingularValues = []
    }

    var totalVariance: Double { squaredSingularValues.reduce(0, +) }
    /// Variance kept at rank k.
    func variance(atRank k: Int) -> Double { squaredSingularValues.prefix(k).reduce(0, +) }
}

/// Ranks of every matrix under one allocation, with the totals they keep.
public struct RankAllocation: Codable, Equatable, Sendable {
    /// tau for an explained-variance allocation, the parameter share for a budget.
    public var target: Double
    /// sum k(m+n) / sum mn over the linear matrices.
    public var parameterShare: Double
    public var parametersKept: Int
    /// Share of the total variance (sum over all matrices of ||Delta||_F^2) kept.
    public var explainedVariance: Double
    public var ranks: [String: Int]

    enum CodingKeys: String, CodingKey {
        case target, ranks
        case parameterShare = "parameter_share"
        case parametersKept = "parameters_kept"
        case explainedVariance = "explained_variance"
    }
}

/// The paper's Figure 2 (v_k per matrix type and layer) and Figure 3 (parameter share vs tau)
/// data for a dense delta, the tau table, and tau=0.5 against the same parameter share spent by
/// `LowRank.allocateRanks`. All arithmetic here; singular values come from `LowRank`.
public struct SpectrumAnalysis: Codable, Sendable {
    public var matrices: [MatrixSpectrum]
    /// sum mn over the matrices.
    public var parametersFull: Int
    /// (tau, parameter share) for tau = 0, 0.01, ..., 1.
    public var curve: [CurvePoint]
    /// One allocation per requested tau.
    public var taus: [RankAllocation]
    /// tau = 0.5's allocation, and the budget allocation with the same parameter share.
    public var tauAllocation: RankAllocation
    public var budgetAllocation: RankAllocation
    /// Matrix types in the order they are plotted, and the layers drawn in each panel.
    public var types: [String]
    public var plottedLayers: [Int]

    public struct CurvePoint: Codable, Equatable, Sendable {
        public var tau: Double
        public var parameterShare: Double
        enum CodingKeys: String, CodingKey { case tau; case parameterShare = "parameter_share" }
    }

    enum CodingKeys: String, CodingKey {
        case matrices, curve, taus, types
        case parametersFull = "parameters_full"
        case tauAllocation = "tau_allocation"
        case budgetAllocation = "budget_allocation"
        case plottedLayers = "plotted_layers"
    }

    public static let comparisonTau = 0.5
    static let typeOrder = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    public init(matrices: [MatrixSpectrum], taus: [Double], maxRank: Int? = nil) {
        self.matrices = matrices
        parametersFull = matrices.reduce(0) { $0 + $1.rows * $1.columns }
        let present = Set(matrices.map(\.type))
        types = Self.typeOrder.filter(present.contains) + present.subtracting(Self.typeOrder).sorted()
        let layers = Array(Set(matrices.compactMap(\.layer))).sorted()
        plottedLayers = layers.count <= 6 ? layers : [layers[0], layers[layers.count / 2], layers[layers.count - 1]]
        curve = []
        self.taus = []
        tauAllocation = RankAllocation(target: 0, parameterShare: 0, parametersKept: 0, explainedVariance: 0, ranks: [:])
        budgetAllocation = tauAllocation
        curve = (0...100).map { i in
            let tau = Double(i) / 100
            return CurvePoint(tau: tau, parameterShare: allocation(tau: tau, maxRank: maxRank).parameterShare)
        }
        self.taus = taus.map { allocation(tau: $0, maxRank: maxRank) }
        tauAllocation = allocation(tau: Self.comparisonTau, maxRank: maxRank)
        let budget = LowRank.allocateRanks(
            share: tauAllocation.parameterShare,
            matrices: matrices.map { ($0.name, $0.rows, $0.columns, $0.squaredSingularValues) }, maxRank: maxRank)
        budgetAllocation = totals(target: tauAllocation.parameterShare, ranks: budget)
    }

    /// The paper's rule per matrix (tau = 0 keeps nothing), capped by `maxRank`.
    public func allocation(tau: Double, maxRank: Int? = nil) -> RankAllocation {
        var ranks: [String: Int] = [:]
        for m in matrices {
            let k = tau <= 0 ? 0 : LowRank.rank(forExplainedVariance: tau, squaredSingularValues: m.squaredSingularValues)
            ranks[m.name] = min(k, maxRank ?? k)
        }
        return totals(target: tau, ranks: ranks)
    }

    func totals(target: Double, ranks: [String: Int]) -> RankAllocation {
        let totalVariance = matrices.reduce(0) { $0 + $1.totalVariance }
        var kept = 0, variance = 0.0
        for m in matrices {
            let k = ranks[m.name] ?? 0
            kept += k * (m.rows + m.columns)
            variance += m.variance(atRank: k)
        }
        return RankAllocation(target: target, parameterShare: parametersFull > 0 ? Double(kept) / Double(parametersFull) : 0,
                              parametersKept: kept, explainedVariance: totalVariance > 0 ? variance / totalVariance : 1,
                              ranks: ranks)
    }

    /// Singular values of every 2-D linear tensor of `source` in `names` (one tensor at a time).
    public static func spectra(of source: TensorSource, names: [String],
                               progress: ((Int, Int, String) -> Void)? = nil) throws -> [MatrixSpectrum] {
        let linear = names.filter { name in
            guard let info = source.info(name), info.shape.count == 2 else { return false }
            return TensorGroup.classify(name: name, shape: info.shape) == .linear
        }
        var result: [MatrixSpectrum] = []
        for (i, name) in linear.enumerated() {
            let tensor = try source.load(name)
            let values = try LowRank.singularValues(tensor)
            result.append(MatrixSpectrum(name: name, rows: tensor.shape[0], columns: tensor.shape[1], singularValues: values))
            (source as? SafetensorsCheckpoint)?.releasePages(name)
            progress?(i + 1, linear.count, name)
        }
        return result
    }
}
