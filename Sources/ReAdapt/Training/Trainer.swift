import Foundation

/// The training loop of `readapt train`. Per optimizer step it takes `gradientAccumulation`
/// micro-batches of `batchSize` sequences from `BatchOrder`, and for each runs the forward pass
/// (dropout key = `dropoutKey(seed:microStep:)`) and the backward pass into one gradient buffer.
///
/// Gradient accumulation equals one big batch exactly as transformers' Trainer does for causal LMs
/// (`num_items_in_batch`): the step's loss is the sum of the token losses of all its micro-batches
/// divided by their total counted tokens N, so micro-batch i (mean loss Lᵢ over nᵢ tokens)
/// contributes (nᵢ/N)·∇Lᵢ. With equal nᵢ (packed text) that is ∇Lᵢ/G, the "divide each micro-batch
/// loss by G" rule. Then: global-norm clipping (if max-grad-norm > 0), the schedule's learning rate,
/// AdamW (no weight decay on parameters whose lowercased name contains `bias`, `layernorm` or
/// `rmsnorm`, or has a `norm` or `*_norm` component: transformers' `get_decay_parameter_names`,
/// which for LoRA/DoRA tensors excludes nothing).
public final class Trainer {
    public let paths: TrainerPaths
    public let options: TrainerOptions
    /// Overrides the available memory (bytes) the estimate is checked against.
    public var memoryLimit: Int?
    public var interruption: TrainingInterruption?
    public var onEvent: (TrainerEvent) -> Void = { _ in }

    /// Set up by `train()`.
    public private(set) var model: TrainableModel!
    public private(set) var optimizer: AdamW!
    public private(set) var log: TrainingLog!
    public private(set) var lastCheckpoint: URL?
    private var dataset: TrainingDataset!
    private var validation: TrainingDataset?
    private var state: TrainerState!
    private var resumedFromStep: Int?
    private var sessionTokens = 0, sessionTrainedTokens = 0, sessionSeconds = 0.0

    public init(paths: TrainerPaths, options: TrainerOptions) {
        self.paths = paths
        self.options = options
    }

    /// `train()`, then the final adapter/checkpoint in the output directory and the summary.
    public func run() throws -> TrainingSummary {
        let start = ContinuousClock.now
        try train()
        try writeFinalModel()
        let summary = TrainingSummary(
            method: options.method.rawValue, steps: state.globalStep, tokens: sessionTokens,
            trainedTokens: sessionTrainedTokens, tokensPerSecond: sessionSeconds > 0 ? Double(sessionTokens) / sessionSeconds : 0,
            finalTrainLoss: state.steps.last?.loss, finalValidationLoss: state.validations.last?.loss,
            output: paths.output.path, checkpoint: lastCheckpoint?.path ?? "",
            elapsedSeconds: (ContinuousClock.now - start).seconds, resumedFromStep: resumedFromStep)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let file = paths.output.appendingPathComponent(TrainingSummary.fileName)
        do { try encoder.encode(summary).write(to: file, options: .atomic) } catch {
            throw OutputDirectoryError.cannotWrite(path: file.path, reason: StagingDirectory.reason(error))
        }
        return summary
    }

    /// Everything but the final model: setup (or resume), the steps, validation, checkpoints
    /// (the last one at the final step), the log and the loss curve.
    public func train() throws {
        try options.validate()
        guard !paths.data.isEmpty else { throw TrainingDataError.noFiles }
        let bundle = try ModelBundle(url: paths.model)
        let method = options.trainingMethod
        let estimate = TrainingMemoryEstimate(spec: bundle.spec, method: method, batchSize: options.batchSize,
                                              sequenceLength: options.sequenceLength)
        let available = memoryLimit ?? TrainingMemoryReport.availableBytes()
        onEvent(.memory(estimate, availableBytes: available))
        guard estimate.totalBytes <= available else {
            throw TrainerError.doesNotFit(estimate: TrainingMemoryReport.breakdown(estimate), available: available)
        }
        try prepareOutputDirectory()
        dataset = try TrainingDataset.load(files: paths.data, bundle: bundle, sequenceLength: options.sequenceLength)
        validation = try paths.validation.map { try TrainingDataset.load(files: [$0], bundle: bundle, sequenceLength: options.sequenceLength) }
        onEvent(.data(dataset.report, validation: validation?.report))
        let order = try BatchOrder(sequenceCount: dataset.count, batchSize: options.batchSize, seed: options.seed)
        let totalSteps = options.steps ?? options.epochs * max(1, order.batchesPerEpoch / options.gradientAccumulation)
        let schedule = LearningRateSchedule(kind: options.schedule, baseLearningRate: options.learningRate,
                                            warmupSteps: options.warmupSteps, totalSteps: totalSteps)

        // Resume: check the checkpoint's options and data before the (slow) model load.
        let checkpoint = try paths.resume.map(TrainingCheckpoint.locate)
        let saved = try checkpoint.map(TrainingCheckpoint.readState)
        let dataFingerprint = DataFingerprint(files: paths.data, dataset: dataset)
        if let checkpoint, let saved {
            if let reason = options.resumeMismatch(saved.options) ?? dataFingerprint.mismatch(saved.data) {
                throw TrainerError.resumeMismatch(path: checkpoint.path, reason: reason)
            }
        }
        model = try bundle.loadTrainableModel(batchSize: options.batchSize, sequenceLength: options.sequenceLength,
                                              method: method, seed: options.seed)
        // From scratch: transformers' _init_weights rules with the config's initializer_range
        // (a resume then overwrites the values with the checkpoint's).
        if options.initialization == .random { model.initializeRandomly(seed: options.seed) }
        optimizer = try AdamW(model: model, options: AdamWOptions(learningRate: options.learningRate, weightDecay: options.weightDecay),
                              noDecay: { Self.excludedFromWeightDecay($0.name) })
        state = TrainerState(options: options, globalStep: 0, totalSteps: totalSteps, batchOrder: order,
                             dropoutSeed: options.seed, schedule: schedule, steps: [], validations: [],
                             data: dataFingerprint, model: ModelFingerprint(url: paths.model, model: model))
        if let checkpoint, let saved {
            if let reason = state.model.mismatch(saved.model) { throw TrainerError.resumeMismatch(path: checkpoint.path, reason: reason) }
            try TrainingCheckpoint.restore(model: model, optimizer: optimizer, from: checkpoint)
            guard optimizer.step == saved.globalStep, saved.globalStep <= totalSteps else {
                throw TrainerError.badCheckpoint(path: checkpoint.path, reason: "its optimizer step \(optimizer.step) does not match its global step \(saved.globalStep) of \(totalSteps)")
            }
            state.globalStep = saved.globalStep
            state.batchOrder = saved.batchOrder
            state.steps = saved.steps
            state.validations = saved.validations
            resumedFromStep = saved.globalStep
            if checkpoint.deletingLastPathComponent().standardizedFileURL == paths.output.standardizedFileURL {
                lastCheckpoint = checkpoint
            }
        }
        log = TrainingLog(directory: paths.output, steps: state.steps, validations: state.validations)
        try log.rewrite()
        onEvent(.started(totalSteps: totalSteps, fromStep: state.globalStep, trainableValues: model.trainable.count,
                         resumedFrom: checkpoint))
        try loop()
    }

    private func loop() throws {
        let clock = ContinuousClock()
        var savedAt = lastCheckpoint == nil ? -1 : state.globalStep
        // A request during loading stops here, with nothing trained to save.
        if let signal = interruption?.request { throw TrainerError.interruptedBeforeTraining(signal: signal) }
        while state.globalStep < state.totalSteps {
            let start = clock.now
            let record = try step()
            let seconds = (clock.now - start).seconds
            var finished = record
            finished.seconds = seconds
            finished.tokensPerSecond = Double(options.batchSize * options.sequenceLength * options.gradientAccumulation) / seconds
            state.steps.append(finished)
            try log.append(finished)
            sessionSeconds += seconds
            sessionTokens += options.batchSize * options.sequenceLength * options.gradientAccumulation
            sessionTrainedTokens += record.trainedTokens
            let stepsThisSession = state.globalStep - (resumedFromStep ?? 0)
            let eta = sessionSeconds / Double(stepsThisSession) * Double(state.totalSteps - state.globalStep)
            onEvent(.step(finished, totalSteps: state.totalSteps, etaSeconds: eta))

            let last = state.globalStep == state.totalSteps
            if validation != nil, options.evalEvery > 0, state.globalStep % options.evalEvery == 0, !last { try validate() }
            if options.saveEvery > 0, state.globalStep % options.saveEvery == 0, !last {
                try saveCheckpoint(); savedAt = state.globalStep
            }
            if let signal = interruption?.request {
                if savedAt != state.globalStep { try saveCheckpoint() }
                try log.writePlot(title: plotTitle)
                throw TrainerError.interrupted(signal: signal, step: state.globalStep, checkpoint: lastCheckpoint!.path)
            }
        }
        if validation != nil, state.validations.last?.step != state.globalStep { try validate() }
        if savedAt != state.globalStep { try saveCheckpoint() }
        try log.writePlot(title: plotTitle)
    }

    /// One optimizer step: G micro-batches accumulated, clipped, applied.
    private func step() throws -> TrainingStepRecord {
        let g = options.gradientAccumulation
        var order = state.batchOrder
        let batches = (0..<g).map { _ in dataset.batch(order.next()) }
        state.batchOrder = order
        let counts = batches.map { Self.countedTargets($0.labels, sequenceLength: options.sequenceLength) }
        let total = counts.reduce(0, +)
        model.zeroGradients()
        // Invariant: the accumulated gradient is `scale` × the buffer, so each micro-batch's
        // backward can add its plain mean-loss gradient; the buffer is rescaled only when the
        // weights nᵢ/N differ, and once at the end.
        var scale: Float = 0
        var lossSum = 0.0
        for (i, batch) in batches.enumerated() where counts[i] > 0 {
            model.dropoutKey = Self.dropoutKey(seed: state.dropoutSeed, microStep: state.globalStep * g + i)
            let loss = try model.forward(inputIDs: batch.inputIDs, labels: batch.labels) ?? 0
            lossSum += Double(loss) * Double(counts[i])
            let weight = Float(Double(counts[i]) / Double(total))
            if scale != 0, scale != weight { scaleGradients(by: scale / weight) }
            scale = weight
            try model.backward()
        }
        model.dropoutKey = nil
        if scale != 0, scale != 1 { scaleGradients(by: scale) }
        let gradNorm = options.maxGradNorm > 0
            ? GradientClipping.clipGlobalNorm(model, maxNorm: options.maxGradNorm)
            : GradientClipping.globalNorm(model.gradients.pointer, count: model.gradients.count)
        let loss = total > 0 ? lossSum / Double(total) : 0
        guard loss.isFinite, gradNorm.isFinite else { throw TrainerError.nonFiniteLoss(step: state.globalStep + 1) }
        let lr = state.schedule.learningRate(step: optimizer.step)
        optimizer.step(model: model, learningRate: lr)
        state.globalStep += 1
        let microBatches = state.globalStep * g
        return TrainingStepRecord(step: state.globalStep, epoch: Double(microBatches) / Double(state.batchOrder.batchesPerEpoch),
                                  loss: loss, learningRate: lr, gradNorm: Double(gradNorm), trainedTokens: total,
                                  tokensPerSecond: 0, seconds: 0)
    }

    private func scaleGradients(by factor: Float) {
        let p = model.gradients.pointer
        for i in 0..<model.gradients.count { p[i] *= factor }
    }

    /// Mean loss over every counted token of the validation sequences, without dropout. The last
    /// partial batch is filled with rows whose labels are all ignored.
    @discardableResult
    public func validate() throws -> ValidationRecord {
        guard let validation else { throw TrainerError.invalidOption("No validation data was given (--val).") }
        model.dropoutKey = nil
        let b = options.batchSize, t = options.sequenceLength
        var sum = 0.0, tokens = 0
        for start in stride(from: 0, to: validation.count, by: b) {
            var (ids, labels) = validation.batch(Array(start..<min(start + b, validation.count)))
            let fill = b * t - ids.count
            ids += Array(validation.inputIDs[0..<t]).cycled(toCount: fill)
            labels += repeatElement(TrainingDataset.ignoredLabel, count: fill)
            let counted = Self.countedTargets(labels, sequenceLength: t)
            guard counted > 0 else { continue }
            let loss = try model.forward(inputIDs: ids, labels: labels) ?? 0
            sum += Double(loss) * Double(counted)
            tokens += counted
        }
        let record = ValidationRecord(step: state.globalStep, loss: tokens > 0 ? sum / Double(tokens) : 0, tokens: tokens)
        state.validations.append(record)
        try log.append(record)
        onEvent(.validation(record))
        return record
    }

    private func saveCheckpoint() throws {
        let start = ContinuousClock.now
        lastCheckpoint = try TrainingCheckpoint.save(model: model, optimizer: optimizer, state: state,
                                                     baseModel: paths.model.path, in: paths.output)
        TrainingCheckpoint.prune(in: paths.output, keep: options.saveTotalLimit)
        try log.writePlot(title: plotTitle)
        onEvent(.checkpoint(lastCheckpoint!, seconds: (ContinuousClock.now - start).seconds))
    }

    /// The trained adapter (LoRA/DoRA, PEFT format) or model (full, Hugging Face checkpoint) in the
    /// output directory, written to a hidden scratch directory first and then moved file by file.
    public func writeFinalModel() throws {
        let scratch = paths.output.appendingPathComponent(".final-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        if options.method == .full {
            try TrainedModelWriter.writeCheckpoint(model: model, baseDirectory: paths.model, to: scratch)
        } else {
            try TrainedModelWriter.writePEFTAdapter(model: model, baseModel: paths.model.path, to: scratch)
        }
        let fileManager = FileManager.default
        do {
            for name in try fileManager.contentsOfDirectory(atPath: scratch.path) {
                let target = paths.output.appendingPathComponent(name)
                if fileManager.fileExists(atPath: target.path) { try fileManager.removeItem(at: target) }
                try fileManager.moveItem(at: scratch.appendingPathComponent(name), to: target)
            }
        } catch {
            throw OutputDirectoryError.cannotWrite(path: paths.output.path, reason: StagingDirectory.reason(error))
        }
    }

    /// Creates the output directory, refusing one that holds something else unless `overwrite`
    /// (or `resume` points into it); clears staging leftovers of a crashed run.
    private func prepareOutputDirectory() throws {
        let fileManager = FileManager.default
        let output = paths.output.standardizedFileURL
        var isDirectory: ObjCBool = false
        if fileManager.fileExists(atPath: output.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw TrainerError.outputNotADirectory(path: output.path) }
            let visible = ((try? fileManager.contentsOfDirectory(atPath: output.path)) ?? []).filter { !$0.hasPrefix(".") }
            let resumePath = paths.resume?.standardizedFileURL.path
            let resumesHere = resumePath.map { $0 == output.path || $0.hasPrefix(output.path + "/") } ?? false
            if !visible.isEmpty, !resumesHere {
                if paths.overwrite {
                    do { try fileManager.removeItem(at: output) } catch {
                        throw OutputDirectoryError.cannotWrite(path: output.path, reason: StagingDirectory.reason(error))
                    }
                } else if visible.contains(TrainingSummary.fileName) {
                    throw TrainerError.outputExists(path: output.path, reason: "already holds a finished training run (\(TrainingSummary.fileName)); pass --overwrite to replace it or choose another --output")
                } else if !TrainingCheckpoint.list(in: output).isEmpty {
                    throw TrainerError.outputExists(path: output.path, reason: "holds checkpoints of an unfinished run; pass --resume \(output.path) to continue it or --overwrite to start over")
                } else {
                    throw TrainerError.outputExists(path: output.path, reason: "is not empty; pass --overwrite to replace it or choose another --output")
                }
            }
        }
        do {
            try fileManager.createDirectory(at: output, withIntermediateDirectories: true)
            for name in try fileManager.contentsOfDirectory(atPath: output.path)
            where name.hasPrefix(".final-") || (name.hasPrefix(".checkpoint-") && name.contains(".partial-")) {
                try? fileManager.removeItem(at: output.appendingPathComponent(name))
            }
        } catch {
            throw OutputDirectoryError.cannotWrite(path: output.path, reason: StagingDirectory.reason(error))
        }
    }

    private var plotTitle: String { "readapt train (\(options.method.rawValue)) — \(paths.model.lastPathComponent)" }

    // MARK: - Rules, exposed for tests

    /// Labels that count in the loss: position t of a sequence predicts label t + 1, so the last
    /// position and -100 labels do not count (transformers' shift).
    public static func countedTargets(_ labels: [Int], sequenceLength: Int) -> Int {
        var count = 0
        for (i, label) in labels.enumerated() where i % sequenceLength != 0 && label != TrainingDataset.ignoredLabel { count += 1 }
        return count
    }

    /// The dropout key of micro-step `microStep` (0-based over the whole run): SplitMix64 of
    /// seed ⊕ SplitMix64(microStep), so a resumed run replays the same masks.
    public static func dropoutKey(seed: UInt64, microStep: Int) -> UInt64 {
        func mix(_ x: UInt64) -> UInt64 { SplitMix64.finalize(x &+ SplitMix64.golden) }
        return mix(seed ^ mix(UInt64(microStep)))
    }

    /// transformers' `get_decay_parameter_names` name rule (lowercased name contains `bias`,
    /// `layernorm` or `rmsnorm`, or matches `(^|\.)norm($|\.)` or `_norm($|\.)`).
    public static func excludedFromWeightDecay(_ name: String) -> Bool {
        let lower = name.lowercased()
        if lower.contains("bias") || lower.contains("layernorm") || lower.contains("rmsnorm") { return true }
        return lower.split(separator: ".", omittingEmptySubsequences: false).contains { $0 == "norm" || $0.hasSuffix("_norm") }
    }
}

extension Array {
    /// The elements repeated cyclically to `count` elements (empty when count ≤ 0).
    func cycled(toCount count: Int) -> [Element] {
        guard count > 0, !isEmpty else { return [] }
        return (0..<count).map { self[$0 % self.count] }
    }
}
