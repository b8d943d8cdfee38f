import ArgumentParser
import Foundation
import ReAdapt

/// `readapt extract`: the RE-Adapter (instruct - base) of a model pair, dense or LoRE.
struct ExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Extract the instruction adapter (instruct - base) of a base/instruct model pair.",
        discussion: """
        Checks the pair first (same architecture and config, same tensor names and shapes), then \
        streams one tensor at a time. By default writes a delta checkpoint: safetensors in the \
        Hugging Face layout (sharded past --max-shard-size, with an index) plus readapt_delta.json. \
        With --lore or --rank-budget writes a PEFT LoRA adapter of the linear weights plus a dense \
        companion file for the other tensors.

        Vocabulary rule: if the instruct model has more embedding/head rows than the base, the rows \
        the base has hold instruct - base and the extra rows hold the instruct rows whole (listed \
        as carried_row_tensors). Tied embeddings are extracted once (no lm_head entry).
        """
    )

    @Option(name: .long, help: "The pretrained (base) model: a Hugging Face model directory or a llama .gguf file.")
    var base: String

    @Option(name: .long, help: "The instruction-tuned model of the same architecture.")
    var instruct: String

    @Option(name: .long, help: "The directory to write (must not exist or be empty, unless --force).")
    var output: String

    @Option(name: .long, help: ArgumentHelp("LoRE: per matrix, the smallest rank whose explained variance reaches TAU, in (0, 1].", valueName: "tau"))
    var lore: Double?

    @Option(name: .long, help: ArgumentHelp("LoRE with a global SHARE of the linear weights' parameters, in (0, 1], allocated to keep the most variance.", valueName: "share"))
    var rankBudget: Double?

    @Option(name: .long, help: ArgumentHelp("LoRE: upper bound on every matrix's rank.", valueName: "rank"))
    var maxRank: Int?

    @Option(name: .long, help: "LoRE's SVD: randomized (the ranks an exact SVD would choose, faster) or exact.")
    var svd: String = "randomized"

    @Option(name: .long, help: ArgumentHelp("Comma list of tensor groups: linear, embeddings, head, norms, biases (default: all).", valueName: "groups"))
    var include: String?

    @Option(name: .long, help: "Stored dtype: f32, f16 or bf16 (default: the base's stored dtype).")
    var dtype: String?

    @Option(name: .long, help: ArgumentHelp("Largest shard: bytes or a number with KB/MB/GB/KiB/MiB/GiB.", valueName: "size"))
    var maxShardSize: String = defaultMaxShardSize

    @Flag(name: .long, help: "Replace an existing --output.")
    var force = false

    @Flag(name: .long, help: "Print a JSON summary (and the LoRE report) on stdout.")
    var json = false

    /// The LoRE options the flags ask for, or nil for a dense extraction.
    func loreOptions() throws -> LoREOptions? {
        if lore != nil, rankBudget != nil {
            throw ValidationError("--lore and --rank-budget are alternatives; give one of them.")
        }
        if let lore, !(lore > 0 && lore <= 1) {
            throw ValidationError("--lore must be an explained-variance share in (0, 1], not \(lore).")
        }
        if let rankBudget, !(rankBudget > 0 && rankBudget <= 1) {
            throw ValidationError("--rank-budget must be a parameter share in (0, 1], not \(rankBudget).")
        }
        if let maxRank, maxRank <= 0 { throw ValidationError("--max-rank must be at least 1, not \(maxRank).") }
        guard let method = SVDMethod(rawValue: svd.lowercased()) else {
            throw ValidationError("--svd must be randomized or exact, not '\(svd)'.")
        }
        let selection: RankSelection
        if let lore { selection = .explainedVariance(lore) }
        else if let rankBudget { selection = .parameterBudget(rankBudget) }
        else {
            if maxRank != nil { throw ValidationError("--max-rank only applies with --lore or --rank-budget.") }
            return nil
        }
        return LoREOptions(selection: selection, maxRank: maxRank, method: method)
    }

    func validate() throws {
        _ = try loreOptions()
        do {
            _ = try TensorGroup.parseList(include)
            _ = try DeltaExtractionOptions.parseByteSize(maxShardSize)
            _ = try outputDType()
        } catch let error as CustomStringConvertible {
            throw ValidationError(error.description)
        }
    }

    func outputDType() throws -> DType? {
        guard let dtype else { return nil }
        let known: [String: DType] = ["f32": .f32, "f16": .f16, "bf16": .bf16]
        guard let type = known[dtype.lowercased()] else { throw DeltaExtractionError.unsupportedDType(dtype) }
        return type
    }

    func run() throws {
        let options = DeltaExtractionOptions(groups: try TensorGroup.parseList(include), dtype: try outputDType(),
                                             maxShardSize: try DeltaExtractionOptions.parseByteSize(maxShardSize),
                                             replace: force)
        let lore = try loreOptions()
        let pair = try ModelPair(basePath: base, instructPath: instruct)
        if !pair.carriedRowTensors.isEmpty {
            printToStandardError("The instruct model has \(pair.instructVocabSize - pair.baseVocabSize) more vocabulary rows "
                                 + "than the base (\(pair.instructVocabSize) vs \(pair.baseVocabSize)); rows past "
                                 + "\(pair.baseVocabSize) of \(pair.carriedRowTensors.joined(separator: ", ")) are carried whole.")
        }
        let outputURL = URL(fileURLWithPath: output)
        if let lore {
            let result = try DeltaExtractor.writeLoRE(pair, to: outputURL, options: options, lore: lore) { printToStandardError($0) }
            let report = result.report
            printToStandardError(String(format: "Wrote the LoRE adapter %@: %d matrices, %.1f%% of their parameters, %.1f%% of their variance, in %.2f s.",
                                        output, report.matrices.count,
                                        100 * Double(report.parametersKept) / Double(max(report.parametersFull, 1)),
                                        100 * report.explainedVariance, result.summary.seconds))
            if json { try printJSON(LoREOutput(summary: result.summary, report: report)) }
            return
        }
        var lastPrint = ContinuousClock.now
        let summary = try DeltaExtractor.writeDense(pair, to: outputURL, options: options) { p in
            guard p.index == p.count || secondsSince(lastPrint) >= 1 else { return }
            lastPrint = ContinuousClock.now
            let rate = Double(p.bytesMoved) / max(p.seconds, 1e-9)
            let eta = Double(p.totalBytes - p.bytesMoved) / max(rate, 1)
            printToStandardError(String(format: "tensor %d/%d %@  %.0f MB/s  ETA %.0f s", p.index, p.count, p.name,
                                        rate / 1e6, eta))
        }
        printToStandardError(String(format: "Wrote %@: %d tensors (%@), %.1f MB in %d shard(s), in %.2f s.", output,
                                    summary.tensorCount, summary.dtype, Double(summary.bytesWritten) / 1e6,
                                    summary.shards, summary.seconds))
        if json { try printJSON(summary) }
    }

    struct LoREOutput: Encodable {
        var summary: DeltaExtractionSummary
        var report: LoREReport
    }
}
