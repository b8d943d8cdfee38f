import Foundation
import XCTest
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import ReAdapt

/// What a run leaves in its output directory, and what it refuses.
final class TrainerOutputTests: XCTestCase {
    /// train_log.jsonl: one object per step plus validation records; loss.svg: valid XML with one
    /// curve per series; checkpoints: the newest `--save-total-limit`, each complete.
    func testLogPlotAndCheckpointLayout() throws {
        let dir = try TrainerFixtures.temporaryDirectory(self)
        let data = try TrainerFixtures.repetitiveText(in: dir)
        let val = try TrainerFixtures.repetitiveText(in: dir, name: "val.txt", repeats: 4)
        var options = TrainerFixtures.options(.lora, steps: 7)
        options.saveEvery = 2
        options.evalEvery = 3
        options.saveTotalLimit = 2
        let output = dir.appendingPathComponent("out")
        let trainer = TrainerFixtures.trainer(output: output, data: [data], options: options, validation: val)
        var events: [String] = []
        trainer.onEvent = { event in
            switch event {
            case .checkpoint(let url, _): events.append(url.lastPathComponent)
            case .validation(let v): events.append("val@\(v.step)")
            default: break
            }
        }
        try trainer.train()
        XCTAssertEqual(events, ["checkpoint-2", "val@3", "checkpoint-4", "val@6", "checkpoint-6", "val@7", "checkpoint-7"])

        let records = try TrainerFixtures.loggedRecords(output)
        XCTAssertEqual(records.compactMap { $0["type"] as? String },
                       ["train", "train", "train", "validation", "train", "train", "train", "validation", "train", "validation"])
        let first = records[0]
        for key in ["step", "epoch", "loss", "learning_rate", "grad_norm", "trained_tokens", "tokens_per_second", "seconds"] {
            XCTAssertNotNil(first[key] as? Double ?? (first[key] as? Int).map(Double.init), key)
        }
        // Warmup 2: lr 0 at step 1, the peak at step 3.
        XCTAssertEqual(records[0]["learning_rate"] as? Double, 0)
        XCTAssertEqual(records[2]["learning_rate"] as? Double, options.learningRate)

        let svg = try Data(contentsOf: output.appendingPathComponent(TrainingLog.plotFileName))
        let parser = XMLParser(data: svg)
        XCTAssertTrue(parser.parse(), "loss.svg is not well-formed XML")
        XCTAssertEqual(String(decoding: svg, as: UTF8.self).components(separatedBy: "<path ").count - 1, 2)

        XCTAssertEqual(TrainingCheckpoint.list(in: output).map(\.step), [6, 7])
        let newest = output.appendingPathComponent("checkpoint-7")
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: newest.path))
        XCTAssertTrue(names.isSuperset(of: ["adapter_model.safetensors", "optimizer.safetensors", "trainer_state.json"]), "\(names)")
        // No staging leftovers next to the checkpoints.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: output.path).filter { $0.hasPrefix(".") }, [])
        // The tensor file holds PEFT's names and shapes, exactly the adapter's values.
        let tensors = try SafetensorsFile(url: newest.appendingPathComponent("adapter_model.safetensors"))
        XCTAssertEqual(Set(tensors.tensorNames), Set(trainer.model.trainable.slots.map(\.name)))
        let name = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
        XCTAssertEqual(try tensors.load(name), trainer.model.trainable.value(name))
        let state = try TrainingCheckpoint.readState(newest)
        XCTAssertEqual(state.globalStep, 7)
        XCTAssertEqual(state.steps.count, 7)
        XCTAssertEqual(state.options, options)
        XCTAssertEqual(state.data.files.map(\.name), ["train.txt"])
    }

    func testResumeRefusesDifferentOptionsDataOrMissingCheckpoint() throws {
        let dir = try TrainerFixtures.temporaryDirectory(self)
        let data = try TrainerFixtures.repetitiveText(in: dir)
        let options = TrainerFixtures.options(.full, steps: 2)
        let first = dir.appendingPathComponent("first")
        try TrainerFixtures.trainer(output: first, data: [data], options: options).train()
        let checkpoint = first.appendingPathComponent("checkpoint-2")

        var changed = options
        changed.learningRate = 1e-3
        XCTAssertThrowsError(try TrainerFixtures.trainer(output: dir.appendingPathComponent("a"), data: [data], options: changed,
                                                         resume: first).train()) {
            XCTAssertEqual("\($0)", "Cannot resume from \(checkpoint.path): --lr was 0.003 in the checkpoint but is 0.001 now.")
        }
        let other = try TrainerFixtures.repetitiveText(in: dir, name: "other.txt", repeats: 41)
        XCTAssertThrowsError(try TrainerFixtures.trainer(output: dir.appendingPathComponent("b"), data: [other], options: options,
                                                         resume: checkpoint).train()) {
            XCTAssertTrue("\($0)".contains("the data files were train.txt"), "\($0)")
        }
        XCTAssertThrowsError(try TrainerFixtures.trainer(output: dir.appendingPathComponent("c"), data: [data], options: options,
                                                         resume: dir).train()) {
            XCTAssertEqual($0 as? TrainerError, .noCheckpoint(path: dir.path))
        }
        // Another base model (here: the same weights with a reformatted config.json).
        let otherModel = dir.appendingPathComponent("model")
        try FileManager.default.copyItem(at: TrainerFixtures.model, to: otherModel)
        let config = otherModel.appendingPathComponent("config.json")
        try (String(contentsOf: config, encoding: .utf8) + "\n").write(to: config, atomically: true, encoding: .utf8)
        let moved = Trainer(paths: TrainerPaths(model: otherModel, data: [data], output: dir.appendingPathComponent("d"), resume: checkpoint),
                            options: options)
        moved.memoryLimit = 1 << 40
        XCTAssertThrowsError(try moved.train()) {
            XCTAssertTrue("\($0)".hasPrefix("Cannot resume from \(checkpoint.path): the base model's files were config.json ("), "\($0)")
        }
        // Same options, another output directory: continues from step 2 (already the end) and re-saves there.
        let copy = dir.appendingPathComponent("copy")
        let resumed = TrainerFixtures.trainer(output: copy, data: [data], options: options, resume: checkpoint)
        try resumed.train()
        XCTAssertEqual(TrainingCheckpoint.list(in: copy).map(\.step), [2])
    }

    func testOutputDirectoryRules() throws {
        let dir = try TrainerFixtures.temporaryDirectory(self)
        let data = try TrainerFixtures.repetitiveText(in: dir)
        let options = TrainerFixtures.options(.full, steps: 1)
        let foreign = dir.appendingPathComponent("foreign")
        try FileManager.default.createDirectory(at: foreign, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: foreign.appendingPathComponent("notes.txt"))
        XCTAssertThrowsError(try TrainerFixtures.trainer(output: foreign, data: [data], options: options).train()) {
            XCTAssertEqual("\($0)", "\(foreign.path) is not empty; pass --overwrite to replace it or choose another --output.")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: foreign.appendingPathComponent("notes.txt").path))

        let unfinished = dir.appendingPathComponent("unfinished")
        try TrainerFixtures.trainer(output: unfinished, data: [data], options: options).train()
        XCTAssertThrowsError(try TrainerFixtures.trainer(output: unfinished, data: [data], options: options).train()) {
            XCTAssertTrue("\($0)".contains("holds checkpoints of an unfinished run; pass --resume"), "\($0)")
        }
        try Data("{}".utf8).write(to: unfinished.appendingPathComponent(TrainingSummary.fileName))
        XCTAssertThrowsError(try TrainerFixtures.trainer(output: unfinished, data: [data], options: options).train()) {
            XCTAssertTrue("\($0)".contains("already holds a finished training run"), "\($0)")
        }
        let trainer = Trainer(paths: TrainerPaths(model: TrainerFixtures.model, data: [data], output: foreign, overwrite: true),
                              options: options)
        trainer.memoryLimit = 1 << 40
        try trainer.train()
        XCTAssertFalse(FileManager.default.fileExists(atPath: foreign.appendingPathComponent("notes.txt").path))

        let file = dir.appendingPathComponent("file")
        try Data().write(to: file)
        XCTAssertThrowsError(try TrainerFixtures.trainer(output: file, data: [data], options: options).train()) {
            XCTAssertEqual($0 as? TrainerError, .outputNotADirectory(path: file.path))
        }
    }

    /// The estimate is checked before anything is loaded or created.
    func testMemoryRefusalNamesTheEstimate() throws {
        let dir = try TrainerFixtures.temporaryDirectory(self)
        let data = try TrainerFixtures.repetitiveText(in: dir)
        let output = dir.appendingPathComponent("out")
        let trainer = TrainerFixtures.trainer(output: output, data: [data], options: TrainerFixtures.options(.full))
        trainer.memoryLimit = 1_000_000
        XCTAssertThrowsError(try trainer.train()) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("Training would need about "), text)
            XCTAssertTrue(text.contains("model weights (F32)") && text.contains("activations"), text)
            XCTAssertTrue(text.contains("but only 1.0 MiB is available; lower --batch-size or --seq-len"), text)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
    }

    /// Options a run cannot use are refused with one sentence naming the flag.
    func testInvalidOptions() {
        func message(_ change: (inout TrainerOptions) -> Void) -> String {
            var o = TrainerOptions(method: .lora)
            change(&o)
            do { try o.validate(); return "" } catch { return "\(error)" }
        }
        XCTAssertEqual(message { _ in }, "")
        XCTAssertEqual(message { $0.steps = 0 }, "--steps must be at least 1, not 0.")
        XCTAssertEqual(message { $0.gradientAccumulation = 0 }, "--grad-accum must be at least 1, not 0.")
        XCTAssertEqual(message { $0.rank = 0 }, "The LoRA rank must be a positive integer, not 0.")
        XCTAssertTrue(message { $0.initialization = .random }.hasPrefix("--init random trains a model from scratch"))
        XCTAssertEqual(message { $0.maxGradNorm = -1 }, "--max-grad-norm must be a finite number >= 0 (0 turns clipping off), not -1.0.")
    }

    /// trainer_state.json keeps 64-bit seeds exactly (JSON numbers beyond 2^53 included).
    func testOptionsRoundTripWithLargeSeeds() throws {
        var options = TrainerOptions(method: .dora)
        options.seed = UInt64.max - 12345
        options.steps = 7
        options.targets = [.q, .v]
        let decoded = try JSONDecoder().decode(TrainerOptions.self, from: JSONEncoder().encode(options))
        XCTAssertEqual(decoded, options)
        var order = try BatchOrder(sequenceCount: 10, batchSize: 3, seed: UInt64.max - 1)
        _ = order.next()
        XCTAssertEqual(try JSONDecoder().decode(BatchOrder.self, from: JSONEncoder().encode(order)), order)
    }

    /// A stop requested while loading ends the run before its first step, saving nothing.
    func testInterruptionBeforeTheFirstStep() throws {
        let dir = try TrainerFixtures.temporaryDirectory(self)
        let data = try TrainerFixtures.repetitiveText(in: dir)
        let output = dir.appendingPathComponent("out")
        let trainer = TrainerFixtures.trainer(output: output, data: [data], options: TrainerFixtures.options(.full))
        trainer.interruption = TrainingInterruption()
        trainer.interruption?.requestStop("SIGINT")
        XCTAssertThrowsError(try trainer.train()) {
            XCTAssertEqual("\($0)", "Training stopped by SIGINT before its first step; nothing new was saved.")
        }
        XCTAssertEqual(TrainingCheckpoint.list(in: output).count, 0)
    }

    /// `--init random` (full only): transformers' init rules, so the first loss is about ln(vocab)
    /// (near-uniform predictions, unlike the pretrained example model's), and training lowers it.
    func testRandomInitTrainsFromScratch() throws {
        let dir = try TrainerFixtures.temporaryDirectory(self)
        let data = try TrainerFixtures.repetitiveText(in: dir)
        var options = TrainerFixtures.options(.full, steps: 8)
        options.initialization = .random
        options.warmupSteps = 0
        let trainer = TrainerFixtures.trainer(output: dir.appendingPathComponent("o"), data: [data], options: options)
        try trainer.train()
        let losses = trainer.log.steps.map(\.loss)
        XCTAssertEqual(losses[0], log(512), accuracy: 0.05, "\(losses)")
        XCTAssertLessThan(losses.last!, losses[0] - 1, "\(losses)")
        options.initialization = .pretrained
        let pretrained = TrainerFixtures.trainer(output: dir.appendingPathComponent("p"), data: [data], options: options)
        try pretrained.train()
        XCTAssertGreaterThan(abs(pretrained.log.steps[0].loss - losses[0]), 0.1)
    }

    /// `run()` ends with the final adapter (LoRA: PEFT files) or checkpoint (full: Hugging Face
    /// files) in the output directory, holding the trained values, and the summary that marks the
    /// directory finished.
    func testRunWritesTheFinalAdapterAndCheckpoint() throws {
        let dir = try TrainerFixtures.temporaryDirectory(self)
        let data = try TrainerFixtures.repetitiveText(in: dir)
        for method in [TrainerOptions.Method.lora, .full] {
            let output = dir.appendingPathComponent(method.rawValue)
            let trainer = TrainerFixtures.trainer(output: output, data: [data], options: TrainerFixtures.options(method, steps: 2))
            let summary = try trainer.run()
            XCTAssertEqual(summary.steps, 2)
            XCTAssertEqual(summary.checkpoint, output.appendingPathComponent("checkpoint-2").path)
            XCTAssertTrue(FileManager.default.fileExists(atPath: output.appendingPathComponent(TrainingSummary.fileName).path))
            let files = Set(try FileManager.default.contentsOfDirectory(atPath: output.path))
            XCTAssertEqual(files.filter { $0.hasPrefix(".") }, [])
            let weights: SafetensorsFile
            if method == .full {
                XCTAssertTrue(files.isSuperset(of: ["config.json", "model.safetensors", "tokenizer.json"]), "\(files)")
                weights = try SafetensorsFile(url: output.appendingPathComponent("model.safetensors"))
            } else {
                XCTAssertTrue(files.isSuperset(of: ["adapter_config.json", "adapter_model.safetensors"]), "\(files)")
                weights = try SafetensorsFile(url: output.appendingPathComponent("adapter_model.safetensors"))
                // The checkpoint's adapter_config.json is the final one.
                XCTAssertEqual(try Data(contentsOf: output.appendingPathComponent("adapter_config.json")),
                               try Data(contentsOf: output.appendingPathComponent("checkpoint-2/adapter_config.json")))
            }
            for slot in trainer.model.trainable.slots.prefix(6) {
                XCTAssertEqual(try weights.load(slot.name), trainer.model.trainable.value(slot.name), slot.name)
            }
            XCTAssertThrowsError(try TrainerFixtures.trainer(output: output, data: [data], options: TrainerFixtures.options(method, steps: 2)).train()) {
                XCTAssertTrue("\($0)".contains("already holds a finished training run"), "\($0)")
            }
        }
    }
}
