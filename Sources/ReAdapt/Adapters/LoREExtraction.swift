import Foundation

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
    /// The rank the rule chose before `--max-rank` capped it (equals `rank` when it did not).
    public var selectedRank: Int
    /// "exact", "randomized", "exact_fallback" (the sketch could not certify the rank), or
    /// "none" (rank 0).
    public var solver: String
    /// Columns of the randomized sketch the factors came from.
    public var sketchColumns: Int?

    enum CodingKeys: String, CodingKey {
        case name, rows, columns, rank, solver
        case explainedVariance = "explained_variance"
        case parametersKept = "parameters_kept"
        case parametersFull = "parameters_full"
        case selectedRank = "selected_rank"
        case sketchColumns = "sketch_columns"
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
    /// The `--max-rank` cap, if any.
    public var maxRank: Int?
    /// The adapter's `r` and `lora_alpha` (the largest rank; 0 when every delta is zero).
    public var adapterRank: Int
    /// Modules whose delta is zero (or got rank 0 from the budget): left out of the adapter.
    public var omittedModules: [String]

    enum CodingKeys: String, CodingKey {
        case selection, target, method, matrices, seconds
        case parametersKept = "parameters_kept"
        case parametersFull = "parameters_full"
        case explainedVariance = "explained_variance"
        case maxRank = "max_rank"
        case adapterRank = "adapter_rank"
        case omittedModules = "omitted_modules"
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
    /// dense companion for `dense`, `metadata` (kind .lore; its `tensors` without the modules
    /// left out at rank 0) and the report into `directory`
    /// (a staging directory the caller creates and renames into place afterwards).
    /// `loadDelta(name)` returns instruct - base for a tensor; it may be called more than once
    /// per name (a parameter budget needs every spectrum before any rank is chosen).
    ///
    /// Memory stays at a few deltas (one per core plus one, OrderedPipeline) and their factors: factors go to a scratch file in `directory`
    /// until the largest rank (the adapter's global alpha, which B is scaled by) is known.
    public static func write(linear: [TensorInfo], dense: [TensorInfo],
                             loadDelta: (String) throws -> Tensor,
                             options: LoREOptions, metadata: DeltaMetadata,
                             baseModelPath: String, to directory: URL,
                             progress: ((String) -> Void)? = nil) throws -> LoREReport {
        let start = ContinuousClock.now
        try validate(options)
        let modules = try linear.map { info -> String in
            guard info.shape.count == 2 else { throw LowRankError.notAMatrix(name: info.name, shape: info.shape) }
            guard info.name.hasSuffix(".weight"), info.name.count > ".weight".count else {
                throw LowRankError.notALinearWeight(name: info.name)
            }
            return String(info.name.dropLast(".weight".count))
        }
        try writeCompanion(dense, loadDelta: loadDelta, dtype: options.outputDType, to: directory)

        var fixedRanks: [String: Int]?
        if case .parameterBudget(let share) = options.selection {
            fixedRanks = try budgetRanks(share: share, linear: linear, loadDelta: loadDelta,
                                         maxRank: options.maxRank, progress: progress, start: start)
        }
        let scratch = try FactorScratchFile(directory: directory)
        var matrices: [LoREMatrixReport] = []
        var kept = 0.0, total = 0.0
        // Matrices are factorized side by side (one per core, each single-threaded: the small
        // eigensolver does not scale over threads, whole matrices do); deltas are loaded and
        // factors written in order on this thread, so the output is the same as a serial run.
        let rule = options.selection, method = options.method, maxRank = options.maxRank
        try OrderedPipeline.run(
            count: linear.count,
            load: { i -> (TensorInfo, Tensor) in
                let info = linear[i]
                let delta = try loadDelta(info.name)
                guard delta.shape == info.shape else {
                    throw LowRankError.shapeMismatch(name: info.name, declared: info.shape, loaded: delta.shape)
                }
                return (info, delta)
            },
            work: { info, delta -> LowRankFactorization in
                switch rule {
                case .explainedVariance(let tau):
                    return try LowRank.factorize(delta, name: info.name, tau: tau, maxRank: maxRank, method: method)
                case .parameterBudget:
                    return try LowRank.factorize(delta, name: info.name, rank: fixedRanks?[info.name] ?? 0,
                                                 method: method)
                }
            },
            consume: { i, factors in
                let info = linear[i]
                try scratch.append(factors)
                total += factors.totalVariance
                kept += factors.explainedVariance * factors.totalVariance
                matrices.append(LoREMatrixReport(
                    name: info.name, rows: factors.rows, columns: factors.columns, rank: factors.rank,
                    explainedVariance: factors.explainedVariance,
                    parametersKept: factors.rank * (factors.rows + factors.columns),
                    parametersFull: factors.rows * factors.columns, selectedRank: factors.selectedRank,
                    solver: factors.solver, sketchColumns: factors.sketchColumns))
                progress?(progressLine(i + 1, of: linear.count, name: info.name, factors: factors, start: start))
            })

        let adapterRank = matrices.map(\.rank).max() ?? 0
        try writeAdapterWeights(modules: modules, matrices: matrices, scratch: scratch, adapterRank: adapterRank,
                                dtype: options.outputDType, to: directory)
        scratch.remove()
        let config = LoREAdapterConfig(modules: zip(modules, matrices.map(\.rank)).map { ($0, $1) },
                                       baseModelPath: baseModelPath)
        try writeFile(config.json(), named: adapterConfigFileName, in: directory)
        // `tensors` lists what holds a delta: a module left out at rank 0 holds none, and `merge`
        // refuses a metadata file naming tensors the adapter does not have.
        let omittedWeights = Set(zip(linear, matrices).filter { $0.1.rank == 0 }.map(\.0.name))
        var written = metadata
        written.tensors = metadata.tensors.filter { !omittedWeights.contains($0) }
        try writeFile(encode(written), named: DeltaMetadata.fileName, in: directory)

        let selection: (String, Double)
        switch options.selection {
        case .explainedVariance(let tau): selection = ("explained_variance", tau)
        case .parameterBudget(let share): selection = ("parameter_budget", share)
        }
        let report = LoREReport(
            selection: selection.0, target: selection.1, method: options.method.rawValue, matrices: matrices,
            parametersKept: matrices.reduce(0) { $0 + $1.parametersKept },
            parametersFull: matrices.reduce(0) { $0 + $1.parametersFull },
            explainedVariance: total > 0 ? kept / total : 1, seconds: (ContinuousClock.now - start).seconds,
            maxRank: options.maxRank, adapterRank: adapterRank,
            omittedModules: zip(modules, matrices).filter { $0.1.rank == 0 }.map(\.0))
        try writeFile(encode(report), named: reportFileName, in: directory)
        return report
    }

    static func validate(_ options: LoREOptions) throws {
        if let maxRank = options.maxRank, maxRank < 1 { throw LowRankError.invalidMaxRank(maxRank) }
        switch options.selection {
        case .explainedVariance(let tau):
            guard tau > 0, tau <= 1 else { throw LowRankError.invalidThreshold(tau) }
        case .parameterBudget(let share):
            guard share > 0, share <= 1 else { throw LowRankError.invalidShare(share) }
        }
    }

    /// First pass of the budget mode: every matrix's exact spectrum (values only), then the
    /// greedy allocation.
    static func budgetRanks(share: Double, linear: [TensorInfo], loadDelta: (String) throws -> Tensor,
                            maxRank: Int?, progress: ((String) -> Void)?,
                            start: ContinuousClock.Instant) throws -> [String: Int] {
        var spectra: [(name: String, rows: Int, columns: Int, squaredSingularValues: [Double])] = []
        try OrderedPipeline.run(
            count: linear.count,
            load: { i in (linear[i].name, try loadDelta(linear[i].name)) },
            work: { name, delta -> (shape: [Int], values: [Double]) in
                _ = try LowRank.squaredNorm(delta, name: name)
                return (delta.shape, try LowRank.singularValues(delta, name: name))
            },
            consume: { i, output in
                let info = linear[i]
                spectra.append((info.name, output.shape[0], output.shape[1], output.values.map { $0 * $0 }))
                progress?(String(format: "spectrum %d/%d %@ (%.1f s)", i + 1, linear.count, info.name,
                                 (ContinuousClock.now - start).seconds))
            })
        return LowRank.allocateRanks(share: share, matrices: spectra, maxRank: maxRank)
    }

    static func progressLine(_ done: Int, of count: Int, name: String, factors: LowRankFactorization,
                             start: ContinuousClock.Instant) -> String {
        let elapsed = (ContinuousClock.now - start).seconds
        let remaining = elapsed / Double(done) * Double(count - done)
        let sketch = factors.sketchColumns.map { ", sketch \($0)" } ?? ""
        return String(format: "%d/%d %@: rank %d (%@%@), %.1f s elapsed, ETA %.1f s", done, count, name,
                      factors.rank, factors.solver, sketch, elapsed, remaining)
    }

    static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    static func writeFile(_ data: Data, named name: String, in directory: URL) throws {
        let url = directory.appendingPathComponent(name)
        do { try data.write(to: url) } catch {
            throw OutputDirectoryError.cannotWrite(path: url.path, reason: StagingDirectory.reason(error))
        }
    }
}
