import ArgumentParser
import Foundation
import ReAdapt

extension TrainerOptions.Method: ExpressibleByArgument {}
extension TrainerOptions.Initialization: ExpressibleByArgument {}
extension LearningRateSchedule.Kind: ExpressibleByArgument {}

/// `readapt train`: LoRA, DoRA or full fine-tuning on text or chat data (see docs/train.md).
/// Thin: flags become `TrainerOptions`/`TrainerPaths`; `Trainer` does the work; events are
/// printed on stderr.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a LoRA/DoRA adapter or fine-tune all weights on CPU (F32), with checkpoints and exact resume.")

    @Option(name: .long, help: "Base model: a Hugging Face model directory or a llama .gguf file.")
    var model: String

    @Option(name: .long, parsing: .upToNextOption, help: "Training data: .txt/.md files (one document each) or JSONL with {\"text\"} or {\"messages\"}.")
    var data: [String] = []

    @Option(name: .long, help: "Output directory (adapter or model, train_log.jsonl, loss.svg, checkpoint-<step>/).")
    var output: String

    @Option(name: .long, help: "What to train.")
    var method: TrainerOptions.Method

    @Option(name: .long, help: "LoRA rank (default 64).")
    var rank: Int?

    @Option(name: .long, help: "LoRA alpha; scale = alpha/rank (default 128).")
    var alpha: Double?

    @Flag(name: .long, help: "rsLoRA scaling alpha/sqrt(rank).")
    var rslora = false

    @Option(name: .long, help: "Dropout on the LoRA input (default 0.05).")
    var dropout: Double?

    @Option(name: .long, help: "all-linear or a comma-separated list such as q_proj,v_proj (default all-linear).")
    var targets: String?

    @Option(name: .long, help: "Passes over the data (default 1; exclusive with --steps).")
    var epochs: Int?

    @Option(name: .long, help: "Optimizer steps (exclusive with --epochs).")
    var steps: Int?

    @Option(name: .customLong("lr"), help: "Peak learning rate.")
    var learningRate: Double = 2e-4

    @Option(name: .long, help: "Schedule after the warmup.")
    var schedule: LearningRateSchedule.Kind = .linear

    @Option(name: .long, help: "Linear warmup steps.")
    var warmup = 0

    @Option(name: .long, help: "Sequences per micro-batch.")
    var batchSize = 4

    @Option(name: .long, help: "Micro-batches per optimizer step.")
    var gradAccum = 1

    @Option(name: .long, help: "Tokens per sequence.")
    var seqLen = 256

    @Option(name: .long, help: "AdamW decoupled weight decay (never on norms and biases).")
    var weightDecay = 0.0

    @Option(name: .long, help: "Clip the global gradient norm to this (0 = off).")
    var maxGradNorm = 1.0

    @Option(name: .long, help: "Seed of the adapter init, batch order and dropout.")
    var seed: UInt64 = 42

    @Option(name: .customLong("val"), help: "Validation data file (same formats as --data).")
    var validation: String?

    @Option(name: .long, help: "Validate every N steps (0: at the end only).")
    var evalEvery = 0

    @Option(name: .long, help: "Save a checkpoint every N steps (0: at the end and on Ctrl-C only).")
    var saveEvery = 0

    @Option(name: .long, help: "Checkpoints kept (the newest).")
    var saveTotalLimit = 2

    @Option(name: .long, help: "Continue from a checkpoint directory, or from the newest checkpoint in an output directory.")
    var resume: String?

    @Option(name: .customLong("init"), help: "random trains from scratch (--method full only).")
    var initialization: TrainerOptions.Initialization = .pretrained

    @Option(name: .long, help: "Memory the run may use, e.g. 8GB (default: MemAvailable).")
    var maxMemory: String?

    @Flag(name: .long, help: "Replace a non-empty --output directory.")
    var overwrite = false

    @Flag(name: .long, help: "Print a JSON summary on stdout at the end.")
    var json = false

    func validate() throws {
        guard !data.isEmpty else { throw ValidationError("--data needs at least one file.") }
        if epochs != nil, steps != nil { throw ValidationError("Give --epochs or --steps, not both.") }
        if method == .full {
            let loraFlags = [("--rank", rank != nil), ("--alpha", alpha != nil), ("--rslora", rslora),
                             ("--dropout", dropout != nil), ("--targets", targets != nil)]
            if let flag = loraFlags.first(where: \.1) {
                throw ValidationError("\(flag.0) applies only to --method lora or dora.")
            }
        }
        if let targets, case .failure(let error) = LoRATargetModule.parseList(targets) {
            throw ValidationError(error.description)
        }
        if let maxMemory, parseByteSize(maxMemory) == nil {
            throw ValidationError("--max-memory must be a size such as 8GB or 512MiB, not '\(maxMemory)'.")
        }
        do { try trainerOptions().validate() } catch let error as TrainerError {
            throw ValidationError(error.description)
        } catch let error as LoRASettingsError {
            throw ValidationError(error.description)
        }
    }

    func trainerOptions() -> TrainerOptions {
        var o = TrainerOptions(method: method)
        if let rank { o.rank = rank }
        if let alpha { o.alpha = alpha }
        o.useRSLoRA = rslora
        if let dropout { o.dropout = dropout }
        if let targets, case .success(let modules) = LoRATargetModule.parseList(targets) { o.targets = modules }
        o.epochs = epochs ?? 1
        o.steps = steps
        o.learningRate = learningRate
        o.schedule = schedule
        o.warmupSteps = warmup
        o.batchSize = batchSize
        o.gradientAccumulation = gradAccum
        o.sequenceLength = seqLen
        o.weightDecay = weightDecay
        o.maxGradNorm = maxGradNorm
        o.seed = seed
        o.initialization = initialization
        o.evalEvery = evalEvery
        o.saveEvery = saveEvery
        o.saveTotalLimit = saveTotalLimit
        return o
    }

    func run() throws {
        let url = { (path: String) in URL(fileURLWithPath: path) }
        let trainer = Trainer(paths: TrainerPaths(model: url(model), data: data.map(url), validation: validation.map(url),
                                                  output: url(output), resume: resume.map(url), overwrite: overwrite),
                              options: trainerOptions())
        trainer.memoryLimit = maxMemory.flatMap(parseByteSize)
        trainer.onEvent = Self.report
        let interruption = TrainingInterruption()
        interruption.installSignalHandlers { signal in
            printToStandardError("\(signal) received: finishing the current step, then saving a checkpoint (send it again to quit without saving).")
        }
        trainer.interruption = interruption
        defer { interruption.uninstallSignalHandlers() }
        let summary = try trainer.run()
        printToStandardError(String(format: "Done: %d steps, %.1f tokens/s, final train loss %.4f; wrote %@.", summary.steps,
                                    summary.tokensPerSecond, summary.finalTrainLoss ?? .nan, summary.output))
        if json { try printJSON(summary) }
    }

    /// The stderr progress: startup summary, one line per step, validations and checkpoints.
    static func report(_ event: TrainerEvent) {
        switch event {
        case let .memory(estimate, available):
            printToStandardError("Memory estimate: \(TrainingMemoryReport.breakdown(estimate)); available \(TrainingMemoryReport.format(bytes: available)).")
        case let .data(report, validation):
            var line = "Data (\(report.objective)): \(report.documents) documents, \(report.tokens) tokens → \(report.sequences) sequences of \(report.sequenceLength)"
            line += report.objective == "text" ? ", \(report.tokensDropped) tokens dropped after the last full sequence" : ", \(report.truncatedSequences) truncated"
            line += "; \(report.trainedTokens) tokens trained on."
            if let validation { line += " Validation: \(validation.sequences) sequences, \(validation.trainedTokens) tokens." }
            printToStandardError(line)
        case let .started(total, from, trainable, resumedFrom):
            let resumed = resumedFrom.map { " (resumed from \($0.path) at step \(from))" } ?? ""
            printToStandardError("Training \(trainable) values for \(total) steps\(resumed).")
        case let .step(r, total, eta):
            printToStandardError(String(format: "step %d/%d  loss %.4f  lr %.3e  grad-norm %.3f  %.1f tokens/s  ETA %@",
                                        r.step, total, r.loss, r.learningRate, r.gradNorm, r.tokensPerSecond, duration(eta)))
        case .validation(let v):
            printToStandardError(String(format: "validation at step %d: loss %.4f over %d tokens", v.step, v.loss, v.tokens))
        case let .checkpoint(url, seconds):
            printToStandardError(String(format: "Saved checkpoint %@ in %.2f s.", url.path, seconds))
        }
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }
}
