import Foundation

/// A file's name and size, for recognising the same data or model on resume.
public struct FileFingerprint: Codable, Equatable, Sendable {
    public var name: String
    public var size: Int

    init(_ url: URL) {
        name = url.lastPathComponent
        size = ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.intValue ?? -1
    }
}

/// What the training sequences were: the files, the packing result and a hash of every token id
/// and label (FNV-1a 64, hex), so a resume on different data is refused.
public struct DataFingerprint: Codable, Equatable, Sendable {
    public var files: [FileFingerprint]
    public var sequences: Int
    public var trainedTokens: Int
    public var tokenHash: String

    public init(files: [URL], dataset: TrainingDataset) {
        self.files = files.map(FileFingerprint.init)
        sequences = dataset.count
        trainedTokens = dataset.report.trainedTokens
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for value in dataset.inputIDs + dataset.labels {
            var v = UInt64(bitPattern: Int64(value))
            for _ in 0..<8 { hash = (hash ^ (v & 0xff)) &* 0x0000_0100_0000_01b3; v >>= 8 }
        }
        tokenHash = String(hash, radix: 16)
    }

    /// Why `self` (now) is not `saved`, or nil.
    func mismatch(_ saved: DataFingerprint) -> String? {
        if files != saved.files {
            let describe = { (f: [FileFingerprint]) in f.map { "\($0.name) (\($0.size) bytes)" }.joined(separator: ", ") }
            return "the data files were \(describe(saved.files)) but are \(describe(files)) now"
        }
        if sequences != saved.sequences { return "the data packed into \(saved.sequences) sequences but packs into \(sequences) now" }
        if tokenHash != saved.tokenHash { return "the data's tokens differ from the checkpoint's (same files and sizes, different content or tokenizer)" }
        return nil
    }
}

/// The base model: its weight/config files and its parameter counts.
public struct ModelFingerprint: Codable, Equatable, Sendable {
    public var files: [FileFingerprint]
    public var parameters: Int
    public var trainableTensors: Int

    public init(url: URL, model: TrainableModel) {
        var urls = [url]
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
            urls = names.filter { $0 == "config.json" || $0.hasSuffix(".safetensors") }.sorted().map { url.appendingPathComponent($0) }
        }
        files = urls.map(FileFingerprint.init)
        parameters = model.layout.totalCount
        trainableTensors = model.trainable.count
    }

    func mismatch(_ saved: ModelFingerprint) -> String? {
        guard self != saved else { return nil }
        let describe = { (f: [FileFingerprint]) in f.map { "\($0.name) (\($0.size) bytes)" }.joined(separator: ", ") }
        if files != saved.files { return "the base model's files were \(describe(saved.files)) but are \(describe(files)) now" }
        return "the model had \(saved.parameters) parameters and \(saved.trainableTensors) trainable values but has \(parameters) and \(trainableTensors) now"
    }
}

/// `trainer_state.json`: everything besides tensors that a resumed run needs to continue exactly.
public struct TrainerState: Codable, Equatable, Sendable {
    public var formatVersion = 1
    public var options: TrainerOptions
    /// Optimizer steps completed.
    public var globalStep: Int
    public var totalSteps: Int
    /// The batch order after `globalStep` steps (the next micro-batch it returns is the next one trained on).
    public var batchOrder: BatchOrder
    /// Dropout masks of micro-step i use key `Trainer.dropoutKey(seed: dropoutSeed, microStep: i)`.
    public var dropoutSeed: UInt64
    public var schedule: LearningRateSchedule
    public var steps: [TrainingStepRecord]
    public var validations: [ValidationRecord]
    public var data: DataFingerprint
    public var model: ModelFingerprint
}

/// Checkpoint directories `OUTPUT/checkpoint-<step>/`, each written through `StagingDirectory`
/// (complete or absent, never half written):
/// - the trainable tensors: `adapter_model.safetensors` for LoRA/DoRA (PEFT's names, so with
///   `adapter_config.json` from `TrainedModelWriter.adapterConfigJSON`, the checkpoint is a PEFT adapter), `model.safetensors` for full
///   fine-tuning (Hugging Face names), F32;
/// - `optimizer.safetensors`: AdamW's `exp_avg` and `exp_avg_sq` as flat F32 tensors in the
///   trainable layout, and its step in the metadata;
/// - `trainer_state.json` (`TrainerState`).
public enum TrainingCheckpoint {
    public static let stateFileName = "trainer_state.json"
    public static let optimizerFileName = "optimizer.safetensors"
    static let prefix = "checkpoint-"

    public static func tensorsFileName(_ method: TrainingMethod) -> String {
        method.loraSettings == nil ? "model.safetensors" : "adapter_model.safetensors"
    }

    /// Writes `OUTPUT/checkpoint-<step>` and returns its URL.
    @discardableResult
    public static func save(model: TrainableModel, optimizer: AdamW, state: TrainerState, baseModel: String,
                            in output: URL) throws -> URL {
        let directory = output.appendingPathComponent(prefix + String(state.globalStep))
        let staging = try StagingDirectory(output: directory, replace: true)
        try writeTensors(model.trainable, to: staging.file(tensorsFileName(model.method)))
        if let settings = model.method.loraSettings {
            try staging.write(TrainedModelWriter.adapterConfigJSON(settings, baseModel: baseModel),
                              to: TrainedModelWriter.adapterConfigFileName)
        }
        let optimizerWriter = try SafetensorsWriter(
            url: staging.file(optimizerFileName),
            tensors: [TensorInfo(name: "exp_avg", dtype: .f32, shape: [optimizer.parameterCount]),
                      TensorInfo(name: "exp_avg_sq", dtype: .f32, shape: [optimizer.parameterCount])],
            metadata: ["step": String(optimizer.step)])
        try optimizerWriter.write("exp_avg", scalars: UnsafeBufferPointer(start: optimizer.expAvg.pointer, count: optimizer.parameterCount))
        try optimizerWriter.write("exp_avg_sq", scalars: UnsafeBufferPointer(start: optimizer.expAvgSq.pointer, count: optimizer.parameterCount))
        try optimizerWriter.finish()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try staging.write(try encoder.encode(state), to: stateFileName)
        try staging.commit()
        return directory
    }

    static func writeTensors(_ trainable: TrainableTensors, to url: URL) throws {
        let writer = try SafetensorsWriter(url: url, tensors: trainable.slots.map { TensorInfo(name: $0.name, dtype: .f32, shape: $0.shape) })
        for slot in trainable.slots {
            try writer.write(slot.name, scalars: UnsafeBufferPointer(start: trainable.values.pointer + slot.offset, count: slot.count))
        }
        try writer.finish()
    }

    /// The checkpoint a `--resume` path names: the directory itself when it holds trainer_state.json,
    /// else its newest `checkpoint-<step>` subdirectory.
    public static func locate(_ url: URL) throws -> URL {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent(stateFileName).path) { return url }
        guard let newest = list(in: url).last else { throw TrainerError.noCheckpoint(path: url.path) }
        return newest.url
    }

    /// The complete checkpoints in `output`, oldest first.
    public static func list(in output: URL) -> [(step: Int, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: output.path)) ?? []
        return names.compactMap { name -> (Int, URL)? in
            guard name.hasPrefix(prefix), let step = Int(name.dropFirst(prefix.count)) else { return nil }
            let url = output.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.appendingPathComponent(stateFileName).path) else { return nil }
            return (step, url)
        }.sorted { $0.0 < $1.0 }
    }

    /// Deletes all but the newest `keep` checkpoints.
    public static func prune(in output: URL, keep: Int) {
        let all = list(in: output)
        for old in all.dropLast(max(keep, 1)) { try? FileManager.default.removeItem(at: old.url) }
    }

    public static func readState(_ directory: URL) throws -> TrainerState {
        let file = directory.appendingPathComponent(stateFileName)
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw TrainerError.noCheckpoint(path: directory.path)
        }
        do {
            return try JSONDecoder().decode(TrainerState.self, from: data)
        } catch {
            throw TrainerError.badCheckpoint(path: directory.path, reason: "\(stateFileName) is not a trainer state (\(Self.reason(error)))")
        }
    }

    /// Loads the checkpoint's trainable tensors into `model` and its moments into `optimizer`.
    public static func restore(model: TrainableModel, optimizer: AdamW, from directory: URL) throws {
        func bad(_ reason: String) -> TrainerError { .badCheckpoint(path: directory.path, reason: reason) }
        let tensors = try SafetensorsFile(url: directory.appendingPathComponent(tensorsFileName(model.method)))
        for slot in model.trainable.slots {
            guard let info = tensors.info(slot.name) else { throw bad("\(tensorsFileName(model.method)) has no tensor \(slot.name)") }
            guard info.shape == slot.shape, info.dtype == .f32 else {
                throw bad("\(slot.name) is \(info.dtype.rawValue) \(info.shape), not F32 \(slot.shape)")
            }
            try tensors.load(slot.name, into: UnsafeMutableBufferPointer(start: model.trainable.values.pointer + slot.offset, count: slot.count))
        }
        let moments = try SafetensorsFile(url: directory.appendingPathComponent(optimizerFileName))
        guard let stepText = moments.metadata["step"], let step = Int(stepText) else { throw bad("\(optimizerFileName) has no step") }
        var arrays: [[Float]] = []
        for name in ["exp_avg", "exp_avg_sq"] {
            guard let info = moments.info(name), info.dtype == .f32, info.shape == [optimizer.parameterCount] else {
                throw bad("\(optimizerFileName) lacks an F32 \(name) of \(optimizer.parameterCount) values")
            }
            arrays.append(try moments.load(name).scalars)
        }
        try optimizer.restore(AdamWState(step: step, expAvg: arrays[0], expAvgSq: arrays[1]))
    }

    static func reason(_ error: Error) -> String {
        if case DecodingError.keyNotFound(let key, _) = error { return "missing \(key.stringValue)" }
        if case DecodingError.dataCorrupted(let context) = error { return context.debugDescription }
        if case DecodingError.typeMismatch(_, let context) = error { return "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))" }
        return "\(error)"
    }
}
