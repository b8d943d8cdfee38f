import Foundation
import XCTest
@testable import ReAdapt

/// `TrainedModelWriter.writeCheckpoint`: a trained model written as a Hugging Face checkpoint loads back
/// through our own `LanguageModel`/`ModelBundle` with the logits `TrainableModel` computed, for every
/// training fixture architecture, sharded or not, from a Hugging Face directory or a GGUF file.
final class TrainedModelWriterCheckpointTests: XCTestCase {
    typealias Fixtures = TrainOutputFixtures

    /// Moves every parameter away from the base (×(1 + 0.2·(u − ½))), so a checkpoint that held the
    /// base's weights instead of the trained ones would fail.
    func perturb(_ model: TrainableModel, seed: UInt64 = 11) {
        var random = Fixtures.SplitMix(state: seed)
        let p = model.parameters.pointer
        for i in 0..<model.parameters.count { p[i] *= 0.9 + 0.2 * random.unit() }
    }

    func batchIDs(_ base: URL) throws -> [[Int]] {
        let batch = try JSONDecoder().decode(TrainingModelTests.Batch.self,
                                             from: Data(contentsOf: base.appendingPathComponent("batch.json")))
        return batch.inputIDs
    }

    /// Logits of each sequence through `LanguageModel` (F32 weights) against `TrainableModel.logits`;
    /// both are F32 with different kernels and summation orders, so 1e-4 absolute (values ~5).
    func assertSameLogits(_ loaded: LanguageModel, _ model: TrainableModel, ids: [[Int]], _ what: String) throws {
        let trained = model.logits.scalars, vocab = model.spec.vocabSize, t = model.sequenceLength
        for (b, sequence) in ids.enumerated() {
            let logits = try loaded.makeSession().forward(sequence, allPositions: true)
            let reference = trained[(b * t * vocab)..<((b + 1) * t * vocab)]
            XCTAssertLessThanOrEqual(maxAbsDiff(logits[...], reference), 1e-4, "\(what) sequence \(b)")
        }
    }

    func testEveryArchitectureLoadsBackWithTheTrainedLogits() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        for name in ["llama", "qwen2", "gemma", "llama_bias", "mistral"] {
            let base = try Fixtures.trainingDirectory(name)
            let ids = try batchIDs(base)
            let model = try TrainableModel.load(directory: base, batchSize: ids.count, sequenceLength: ids[0].count)
            perturb(model)
            try model.forward(inputIDs: ids.flatMap { $0 })
            let out = tmp.appendingPathComponent(name)
            try TrainedModelWriter.writeCheckpoint(model: model, baseDirectory: base, to: out)

            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted(), ["config.json", "model.safetensors"])
            let checkpoint = try SafetensorsCheckpoint(directory: out)
            // As transformers saves: every named parameter once, a tied head left out.
            XCTAssertEqual(checkpoint.tensorNames, model.layout.slots.map(\.name).sorted(), name)
            XCTAssertEqual(checkpoint.tensorNames.contains("lm_head.weight"), !model.spec.tiedHead, name)
            for slot in model.layout.slots {
                XCTAssertEqual(checkpoint.info(slot.name)?.dtype, .f32)
                XCTAssertEqual(try checkpoint.load(slot.name).scalars, model.parameter(slot.name)?.scalars, "\(name) \(slot.name)")
            }
            let config = try Fixtures.jsonObject(out.appendingPathComponent("config.json"))
            XCTAssertEqual(config["dtype"] as? String, "float32")
            XCTAssertEqual(try ModelSpec(ModelConfig.load(out.appendingPathComponent("config.json")), file: out), model.spec)

            try assertSameLogits(LanguageModel.load(directory: out, storage: .f32), model, ids: ids, name)
        }
    }

    func testShardsWhenLargerThanTheMaximumShardSize() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let base = try Fixtures.trainingDirectory("llama")
        let ids = try batchIDs(base)
        let model = try TrainableModel.load(directory: base, batchSize: ids.count, sequenceLength: ids[0].count)
        perturb(model)
        try model.forward(inputIDs: ids.flatMap { $0 })
        let out = tmp.appendingPathComponent("sharded")
        try TrainedModelWriter.writeCheckpoint(model: model, baseDirectory: base, to: out, maxShardSize: 16_000)
        let files = try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
        XCTAssertTrue(files.contains("model.safetensors.index.json"), "\(files)")
        XCTAssertGreaterThan(files.filter { $0.hasPrefix("model-0") }.count, 2, "\(files)")
        let index = try Fixtures.jsonObject(out.appendingPathComponent("model.safetensors.index.json"))
        let metadata = try XCTUnwrap(index["metadata"] as? [String: Any])
        XCTAssertEqual(metadata["total_size"] as? Int, model.parameters.count * 4)
        try assertSameLogits(LanguageModel.load(directory: out, storage: .f32), model, ids: ids, "sharded")
    }

    /// A Hugging Face base: config.json keeps every member (dtype set to float32) and the tokenizer,
    /// chat template and generation files are copied byte for byte.
    func testHuggingFaceBaseFilesAreCopied() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let base = try Fixtures.root().appendingPathComponent("adapters/base")
        let model = try TrainableModel.load(directory: base, batchSize: 1, sequenceLength: 4)
        let out = tmp.appendingPathComponent("out")
        try TrainedModelWriter.writeCheckpoint(model: model, baseDirectory: base, to: out)
        for file in ["chat_template.jinja", "generation_config.json", "tokenizer_config.json"] {
            XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent(file)), try Data(contentsOf: base.appendingPathComponent(file)), file)
        }
        var written = try Fixtures.jsonObject(out.appendingPathComponent("config.json"))
        var original = try Fixtures.jsonObject(base.appendingPathComponent("config.json"))
        XCTAssertEqual(written["dtype"] as? String, "float32")
        written["dtype"] = nil
        original["dtype"] = nil
        XCTAssertEqual(written as NSDictionary, original as NSDictionary)
    }

    /// A GGUF base: config.json, generation_config.json and the tokenizer files are those
    /// `readapt convert` writes (dtype float32), so `ModelBundle` opens the checkpoint with the same
    /// tokenizer and chat template as the GGUF file.
    func testGGUFBaseGetsConfigAndTokenizerAsConvertWritesThem() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let gguf = try Fixtures.root().appendingPathComponent("convert/tiny.gguf")
        let ggufBundle = try ModelBundle(url: gguf)
        let ids = [[1, 5, 9, 3, 17, 30, 2, 8]]
        let model = try ggufBundle.loadTrainableModel(batchSize: 1, sequenceLength: 8)
        perturb(model)
        try model.forward(inputIDs: ids[0])
        let out = tmp.appendingPathComponent("from-gguf")
        try TrainedModelWriter.writeCheckpoint(model: model, baseDirectory: gguf, to: out)

        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted(),
                       ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"])
        let checkpoint = try GGUFCheckpoint(url: gguf)
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("config.json")),
                       try GGUFConverter.configJSON(checkpoint.config, dtype: .f32))
        let bundle = try ModelBundle(url: out)
        XCTAssertEqual(bundle.kind, .directory)
        XCTAssertEqual(bundle.spec, model.spec)
        let text = "Hello world, this is readapt."
        XCTAssertEqual(bundle.tokenizer.encode(text), ggufBundle.tokenizer.encode(text))
        let hi = [ChatMessage(role: "user", content: "hi")]
        XCTAssertEqual(try bundle.chatTemplate().render(hi, addGenerationPrompt: true),
                       try ggufBundle.chatTemplate().render(hi, addGenerationPrompt: true))
        try assertSameLogits(bundle.loadModel(storage: .f32), model, ids: ids, "gguf base")
    }

    func testErrorsAreTypedAndLeaveNothingBehind() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let llama = try Fixtures.trainingDirectory("llama")
        let model = try TrainableModel.load(directory: llama, batchSize: 1, sequenceLength: 4)
        let out = tmp.appendingPathComponent("out")

        let qwen2 = try Fixtures.trainingDirectory("qwen2")
        XCTAssertThrowsError(try TrainedModelWriter.writeCheckpoint(model: model, baseDirectory: qwen2, to: out)) { error in
            XCTAssertEqual(error as? TrainedModelWriterError, .baseMismatch(base: qwen2.path))
            XCTAssertEqual("\(error)", "The base model \(qwen2.path) does not have the architecture of the trained model, so its config and tokenizer cannot describe the checkpoint.")
        }
        let missing = tmp.appendingPathComponent("no-such-model")
        XCTAssertThrowsError(try TrainedModelWriter.writeCheckpoint(model: model, baseDirectory: missing, to: out)) { error in
            XCTAssertEqual(error as? ModelBundleError, .notFound(path: missing.path))
        }
        let slot = try XCTUnwrap(model.layout.slot(named: "model.layers.1.mlp.up_proj.weight"))
        model.parameters.pointer[slot.offset + 3] = .infinity
        XCTAssertThrowsError(try TrainedModelWriter.writeCheckpoint(model: model, baseDirectory: llama, to: out)) { error in
            XCTAssertEqual(error as? TrainedModelWriterError, .nonFinite(tensor: slot.name, output: out.path))
            XCTAssertEqual("\(error)", "Cannot write \(out.path): the trained tensor '\(slot.name)' holds NaN or infinite values (the run diverged).")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), [], "a failed write leaves nothing")

        model.parameters.pointer[slot.offset + 3] = 0
        try TrainedModelWriter.writeCheckpoint(model: model, baseDirectory: llama, to: out)
        XCTAssertThrowsError(try TrainedModelWriter.writeCheckpoint(model: model, baseDirectory: llama, to: out)) { error in
            XCTAssertEqual(error as? OutputDirectoryError, .exists(path: out.path))
        }
    }
    // MARK: - The checkpoints transformers loaded (scripts/check_train_adapter_with_peft.py)

    /// The recorded checkpoints: a trained (perturbed) untied Llama, a randomly initialised tied
    /// Qwen2 (`--init random`), and a trained model whose base is a GGUF file.
    static let recordedCheckpoints: [(name: String, base: String)] = [
        ("checkpoint_llama", "training/llama"), ("checkpoint_qwen2_random", "training/qwen2"), ("checkpoint_gguf", "convert/tiny.gguf"),
    ]

    func recordedModel(_ name: String, base: URL) throws -> (TrainableModel, [Int]) {
        let bundleless = base.pathExtension != "gguf"
        let model = bundleless ? try TrainableModel.load(directory: base, batchSize: 1, sequenceLength: 8)
                               : try ModelBundle(url: base).loadTrainableModel(batchSize: 1, sequenceLength: 8)
        if name.hasSuffix("_random") { model.initializeRandomly(seed: 4) } else { perturb(model) }
        let ids = [3, 41, 7, 88, 15, 60, 2, 33].map { $0 % model.spec.vocabSize }
        try model.forward(inputIDs: ids)
        return (model, ids)
    }

    /// What transformers loaded is what the writer writes today (weights byte for byte, JSON files
    /// as parsed values), the logits we recorded are still our logits (1e-5), and the recorded check
    /// found transformers' logits within 1e-4 of them with every tensor loaded.
    /// `READAPT_UPDATE_TRAIN_OUTPUT_FIXTURES=1` rewrites the recorded checkpoints in the source tree.
    func testWrittenCheckpointIsTheOneTransformersChecked() throws {
        let update = ProcessInfo.processInfo.environment["READAPT_UPDATE_TRAIN_OUTPUT_FIXTURES"] == "1"
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        var logits: [(String, Tensor)] = []
        var cases: [String: Any] = [:]
        let check = update ? [:] : try Fixtures.jsonObject(Fixtures.url("transformers_check.json"))
        let recordedLogits = update ? nil : try SafetensorsFile(url: Fixtures.url("checkpoint_logits.safetensors"))
        for (name, basePath) in Self.recordedCheckpoints {
            let base = try Fixtures.root().appendingPathComponent(basePath)
            let (model, ids) = try recordedModel(name, base: base)
            let out = update ? Fixtures.sourceDirectory.appendingPathComponent(name) : tmp.appendingPathComponent(name)
            try TrainedModelWriter.writeCheckpoint(model: model, baseDirectory: base, to: out, replace: update)
            logits.append((name, model.logits))
            cases[name] = ["base": basePath, "input_ids": ids]
            guard !update, let recordedLogits else { continue }
            let recorded = try Fixtures.url(name)
            let files = try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
            XCTAssertEqual(files, try FileManager.default.contentsOfDirectory(atPath: recorded.path).sorted(), name)
            for file in files {
                try Fixtures.assertSameFile(out.appendingPathComponent(file), recorded.appendingPathComponent(file),
                                            "\(name)/\(file) is not what transformers was checked with: re-run scripts/check_train_adapter_with_peft.py")
            }
            XCTAssertLessThanOrEqual(maxAbsDiff(model.logits.scalars[...], try recordedLogits.load(name).scalars[...]), 1e-5, name)
            let result = try XCTUnwrap(check[name] as? [String: Any], "\(name) is missing from transformers_check.json")
            XCTAssertEqual(result["missing_keys"] as? [String], [], name)
            XCTAssertEqual(result["unexpected_keys"] as? [String], [], name)
            XCTAssertLessThanOrEqual(try XCTUnwrap(result["max_logit_difference_transformers_vs_readapt"] as? Double), 1e-4, name)
        }
        guard update else { return }
        let writer = try SafetensorsWriter(url: Fixtures.sourceDirectory.appendingPathComponent("checkpoint_logits.safetensors"),
                                           tensors: logits.map { TensorInfo(name: $0.0, dtype: .f32, shape: $0.1.shape) })
        for (name, tensor) in logits { try writer.write(name, tensor) }
        try writer.finish()
        try JSONSerialization.data(withJSONObject: cases, options: [.prettyPrinted, .sortedKeys])
            .write(to: Fixtures.sourceDirectory.appendingPathComponent("checkpoint_cases.json"))
    }
}
