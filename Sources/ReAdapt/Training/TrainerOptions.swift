import Foundation

/// Every knob of a training run (`readapt train`'s flags), with the command's defaults. Saved in
/// each checkpoint's `trainer_state.json`; a resume compares the fields that change the numbers
/// (`resumeMismatch`) and refuses to continue under different ones.
public struct TrainerOptions: Codable, Equatable, Sendable {
    public enum Method: String, Codable, CaseIterable, Sendable { case lora, dora, full }
    /// Start from the checkpoint's weights, or from random weights (config's initializer_range).
    public enum Initialization: String, Codable, CaseIterable, Sendable { case pretrained, random }

    public var method: Method
    // LoRA/DoRA (ignored by full fine-tuning).
    public var rank = 64
    public var alpha = 128.0
    public var useRSLoRA = false
    public var dropout = 0.05
    public var targets: [LoRATargetModule] = LoRATargetModule.allCases
    // Length: `steps` optimizer steps if set, else `epochs` passes over the data.
    public var epochs = 1
    public var steps: Int?
    // Optimizer and schedule (HF TrainingArguments' defaults where the issue names none).
    public var learningRate = 2e-4
    public var schedule: LearningRateSchedule.Kind = .linear
    public var warmupSteps = 0
    public var batchSize = 4
    public var gradientAccumulation = 1
    public var sequenceLength = 256
    public var weightDecay = 0.0
    /// Global-norm gradient clipping threshold; 0 turns clipping off.
    public var maxGradNorm = 1.0
    /// Seeds the adapter initialisation, the batch order and the dropout masks.
    public var seed: UInt64 = 42
    public var initialization: Initialization = .pretrained
    // Bookkeeping (does not change the numbers).
    /// Validate every N optimizer steps (0: only at the end).
    public var evalEvery = 0
    /// Save a checkpoint every N optimizer steps (0: only at the end and on interruption).
    public var saveEvery = 0
    /// Checkpoints kept in the output directory (the newest ones).
    public var saveTotalLimit = 2

    public init(method: Method) { self.method = method }

    /// The model-side meaning of `method` and the LoRA fields.
    public var trainingMethod: TrainingMethod {
        switch method {
        case .full: return .full
        case .lora, .dora:
            return .lora(LoRASettings(rank: rank, alpha: alpha, useRSLoRA: useRSLoRA, dropout: dropout,
                                      useDoRA: method == .dora, targets: targets))
        }
    }

    /// Refuses values no run can use, with one sentence naming the flag.
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw TrainerError.invalidOption(message) } }
        try trainingMethod.loraSettings?.validate()
        try check(epochs >= 1, "--epochs must be at least 1, not \(epochs).")
        if let steps { try check(steps >= 1, "--steps must be at least 1, not \(steps).") }
        try check(learningRate > 0 && learningRate.isFinite, "--lr must be a positive number, not \(learningRate).")
        try check(warmupSteps >= 0, "--warmup must be 0 or more steps, not \(warmupSteps).")
        try check(batchSize >= 1, "--batch-size must be at least 1, not \(batchSize).")
        try check(gradientAccumulation >= 1, "--grad-accum must be at least 1, not \(gradientAccumulation).")
        try check(sequenceLength >= 2, "--seq-len must be at least 2 tokens, not \(sequenceLength).")
        try check(weightDecay >= 0 && weightDecay.isFinite, "--weight-decay must be a finite number >= 0, not \(weightDecay).")
        try check(maxGradNorm >= 0 && maxGradNorm.isFinite, "--max-grad-norm must be a finite number >= 0 (0 turns clipping off), not \(maxGradNorm).")
        try check(evalEvery >= 0, "--eval-every must be 0 or more steps, not \(evalEvery).")
        try check(saveEvery >= 0, "--save-every must be 0 or more steps, not \(saveEvery).")
        try check(saveTotalLimit >= 1, "--save-total-limit must be at least 1, not \(saveTotalLimit).")
        try check(initialization == .pretrained || method == .full,
                  "--init random trains a model from scratch, which needs --method full (an adapter on random weights is meaningless).")
    }

    /// The first option that changes the training numbers and differs from `saved` (the options
    /// of the checkpoint being resumed), as "--flag: saved → now", or nil when the run may resume.
    public func resumeMismatch(_ saved: TrainerOptions) -> String? {
        var fields: [(String, String, String)] = [
            ("--method", saved.method.rawValue, method.rawValue),
            ("--epochs/--steps", saved.lengthText, lengthText),
            ("--lr", "\(saved.learningRate)", "\(learningRate)"),
            ("--schedule", saved.schedule.rawValue, schedule.rawValue),
            ("--warmup", "\(saved.warmupSteps)", "\(warmupSteps)"),
            ("--batch-size", "\(saved.batchSize)", "\(batchSize)"),
            ("--grad-accum", "\(saved.gradientAccumulation)", "\(gradientAccumulation)"),
            ("--seq-len", "\(saved.sequenceLength)", "\(sequenceLength)"),
            ("--weight-decay", "\(saved.weightDecay)", "\(weightDecay)"),
            ("--max-grad-norm", "\(saved.maxGradNorm)", "\(maxGradNorm)"),
            ("--seed", "\(saved.seed)", "\(seed)"),
            ("--init", saved.initialization.rawValue, initialization.rawValue),
        ]
        if method != .full {
            fields += [
                ("--rank", "\(saved.rank)", "\(rank)"),
                ("--alpha", "\(saved.alpha)", "\(alpha)"),
                ("--rslora", "\(saved.useRSLoRA)", "\(useRSLoRA)"),
                ("--dropout", "\(saved.dropout)", "\(dropout)"),
                ("--targets", saved.targets.map(\.rawValue).joined(separator: ","), targets.map(\.rawValue).joined(separator: ",")),
            ]
        }
        return fields.first { $0.1 != $0.2 }.map { "\($0.0) was \($0.1) in the checkpoint but is \($0.2) now" }
    }

    private var lengthText: String { steps.map { "\($0) steps" } ?? "\(epochs) epochs" }
}

/// Where a run reads and writes.
public struct TrainerPaths: Sendable {
    public var model: URL
    public var data: [URL]
    public var validation: URL?
    public var output: URL
    /// A checkpoint directory, or an output directory (its newest checkpoint is used).
    public var resume: URL?
    /// Replace a non-empty output directory.
    public var overwrite: Bool

    public init(model: URL, data: [URL], validation: URL? = nil, output: URL, resume: URL? = nil, overwrite: Bool = false) {
        self.model = model; self.data = data; self.validation = validation; self.output = output
        self.resume = resume; self.overwrite = overwrite
    }
}

/// Everything a training run can refuse or fail on that is not the data's or the model's own
/// error, each one sentence.
public enum TrainerError: Error, CustomStringConvertible, Equatable {
    case invalidOption(String)
    case outputExists(path: String, reason: String)
    case outputNotADirectory(path: String)
    case noCheckpoint(path: String)
    case badCheckpoint(path: String, reason: String)
    case resumeMismatch(path: String, reason: String)
    case doesNotFit(estimate: String, available: Int)
    case interrupted(signal: String, step: Int, checkpoint: String)
    case interruptedBeforeTraining(signal: String)
    case nonFiniteLoss(step: Int)

    public var description: String {
        switch self {
        case .invalidOption(let message):
            return message
        case let .outputExists(path, reason):
            return "\(path) \(reason)."
        case .outputNotADirectory(let path):
            return "The output \(path) exists and is not a directory."
        case .noCheckpoint(let path):
            return "\(path) holds no training checkpoint (no trainer_state.json and no checkpoint-<step> directory)."
        case let .badCheckpoint(path, reason):
            return "The checkpoint \(path) cannot be resumed: \(reason)."
        case let .resumeMismatch(path, reason):
            return "Cannot resume from \(path): \(reason)."
        case let .doesNotFit(estimate, available):
            return "Training would need about \(estimate) but only \(TrainingMemoryReport.format(bytes: available)) is available; lower --batch-size or --seq-len, use --method lora, or pass --max-memory to override."
        case let .interrupted(signal, step, checkpoint):
            return "Training stopped by \(signal) after step \(step); a checkpoint was saved to \(checkpoint) (continue with --resume \(checkpoint))."
        case .interruptedBeforeTraining(let signal):
            return "Training stopped by \(signal) before its first step; nothing new was saved."
        case .nonFiniteLoss(let step):
            return "The training loss became NaN or infinite at step \(step); lower --lr or check the data."
        }
    }
}

/// Human-readable memory sizes and the estimate's breakdown, for the startup summary and refusals.
public enum TrainingMemoryReport {
    public static func format(bytes: Int) -> String {
        let gib = Double(bytes) / 1_073_741_824
        if gib >= 1 { return String(format: "%.2f GiB", gib) }
        return String(format: "%.1f MiB", Double(bytes) / 1_048_576)
    }

    /// "1.23 GiB (parameters 512.0 MiB + ...)".
    public static func breakdown(_ estimate: TrainingMemoryEstimate) -> String {
        format(bytes: estimate.totalBytes) + " ("
            + estimate.parts.map { "\($0.name) \(format(bytes: $0.bytes))" }.joined(separator: " + ") + ")"
    }

    /// MemAvailable from /proc/meminfo (Linux), else the physical memory.
    public static func availableBytes() -> Int {
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
                let fields = line.split(separator: " ")
                if fields.count >= 2, let kib = Int(fields[1]) { return kib * 1024 }
            }
        }
        return Int(clamping: ProcessInfo.processInfo.physicalMemory)
    }
}
