import Foundation

// INTEGRATION STUB (session 2): signatures agreed between the `extract` command and the LoRE
// implementation. The lore branch replaces every body below; nothing here is meant to ship.

/// How a matrix's singular values are found.
public enum SVDMethod: String, Sendable, CaseIterable {
    /// Randomized range finder grown until it certifies the same rank an exact SVD would choose.
    case randomized
    /// Full SVD of every matrix (LAPACK), the paper's/mergekit's approach.
    case exact
}

/// How LoRE chooses each matrix's rank.
public enum RankSelection: Sendable, Equatable {
    /// The paper's rule: per matrix, the smallest k whose explained variance reaches tau.
    case explainedVariance(Double)
    /// Beyond the paper: a global share of the linear weights' parameters (counting k(m+n) per
    /// matrix), allocated greedily to the singular values with the most variance per parameter.
    case parameterBudget(Double)
}

public struct LoREOptions: Sendable {
    public var selection: RankSelection
    /// Upper bound on every matrix's rank.
    public var maxRank: Int?
    public var method: SVDMethod
    /// dtype of the stored factors and companion tensors.
    public var outputDType: DType

    public init(selection: RankSelection, maxRank: Int? = nil, method: SVDMethod = .randomized,
                outputDType: DType = .f32) {
        self.selection = selection
        self.maxRank = maxRank
        self.method = method
        self.outputDType = outputDType
    }
}

/// One matrix's line of `lore_report.json`.
public struct LoREMatrixReport: Codable, Equatable, Sendable {
    public var name: String
    public var rows: Int
    public var columns: Int
    public var rank: Int
    /// Share of ||Delta||_F^2 kept at `rank`.
    public var explainedVariance: Double
    /// rank * (rows + columns).
    public var parametersKept: Int
    /// rows * columns.
    public var parametersFull: Int

    enum CodingKeys: String, CodingKey {
        case name, rows, columns, rank
        case explainedVariance = "explained_variance"
        case parametersKept = "parameters_kept"
        case parametersFull = "parameters_full"
    }
}

/// `lore_report.json`.
public struct LoREReport: Codable, Equatable, Sendable {
    /// "explained_variance" or "parameter_budget".
    public var selection: String
    /// tau or the parameter share.
    public var target: Double
    public var method: String
    public var matrices: [LoREMatrixReport]
    public var parametersKept: Int
    public var parametersFull: Int
    /// Share of the total ||Delta||_F^2 (over all matrices) kept.
    public var explainedVariance: Double
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case selection, target, method, matrices, seconds
        case parametersKept = "parameters_kept"
        case parametersFull = "parameters_full"
        case explainedVariance = "explained_variance"
    }
}

public enum LoREExtraction {
    /// File names inside a LoRE adapter directory.
    public static let adapterConfigFileName = "adapter_config.json"
    public static let adapterWeightsFileName = "adapter_model.safetensors"
    /// Dense deltas of what is not a low-ranked linear weight (norms, biases, embeddings, head),
    /// under base tensor names; `merge` applies them with the adapter's scale. PEFT ignores it.
    public static let companionFileName = "readapt_dense_delta.safetensors"
    public static let reportFileName = "lore_report.json"

    /// Factorizes every `linear` delta (2-D, [out, in]) and writes the PEFT LoRA adapter, the
    /// dense companion for `dense`, `metadata` (kind .lore) and the report into `directory`
    /// (a staging directory the caller creates and renames into place afterwards).
    /// `loadDelta(name)` returns instruct - base for a tensor; it may be called more than once
    /// per name (a parameter budget needs every spectrum before any rank is chosen).
    public static func write(linear: [TensorInfo], dense: [TensorInfo],
                             loadDelta: (String) throws -> Tensor,
                             options: LoREOptions, metadata: DeltaMetadata,
                             baseModelPath: String, to directory: URL,
                             progress: ((String) -> Void)? = nil) throws -> LoREReport {
        throw LowRankError.notImplemented
    }
}
