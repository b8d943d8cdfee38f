import Foundation
import XCTest
@testable import ReAdapt

/// `TrainedModelWriter.writePEFTAdapter`: the adapter_config.json and tensor names PEFT 0.21 writes
/// (Fixtures/train_outputs/peft_reference.json from scripts/fixtures/make_train_output_fixtures.py),
/// our own reader reading it back, and the adapters PEFT loaded (scripts/check_train_adapter_with_peft.py,
/// its result in Fixtures/train_outputs/peft_check.json) still being what the writer writes today.
final class TrainedModelWriterAdapterTests: XCTestCase {
    typealias Fixtures = TrainOutputFixtures

    func peftReference(_ c: Fixtures.Case) throws -> [String: Any] {
        let all = try Fixtures.jsonObject(Fixtures.url("peft_reference.json"))
        return try XCTUnwrap(all[c.name] as? [String: Any], c.name)
    }

    /// Every key PEFT writes, with PEFT's values. PEFT expands `all-linear` into full module names
    /// where we write the suffixes; both select the same modules (PEFT matches a target T against
    /// module M when M == T or M ends with "." + T), so target_modules is compared as suffix sets.
    func testAdapterConfigHasPEFTsKeysAndValues() throws {
        for c in Fixtures.cases {
            let data = try TrainedModelWriter.adapterConfigJSON(c.settings, baseModel: Fixtures.baseModelName(c))
            var ours = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
            var peft = try XCTUnwrap(try peftReference(c)["adapter_config"] as? [String: Any])
            XCTAssertEqual(Set(ours.keys), Set(peft.keys), "\(c.name): the key set of PEFT 0.21's adapter_config.json")
            func suffixes(_ value: Any?) -> Set<String> {
                Set((value as? [String] ?? []).map { String($0.split(separator: ".").last ?? "") })
            }
            XCTAssertEqual(suffixes(ours["target_modules"]), suffixes(peft["target_modules"]), c.name)
            XCTAssertEqual(suffixes(ours["target_modules"]), Set(c.settings.targets.map(\.rawValue)), c.name)
            ours["target_modules"] = nil
            peft["target_modules"] = nil
            for key in peft.keys.sorted() {
                XCTAssertEqual(ours[key].map { $0 as? NSObject } ?? nil, peft[key].map { $0 as? NSObject } ?? nil,
                               "\(c.name): \"\(key)\"")
            }
        }
    }

    func testAdapterTensorNamesAndShapesArePEFTs() throws {
        for c in Fixtures.cases {
            let model = try Fixtures.trainedModel(c)
            let reference = try XCTUnwrap(try peftReference(c)["tensors"] as? [String: [Int]])
            let ours = Dictionary(uniqueKeysWithValues: model.trainable.slots.map { ($0.name, $0.shape) })
            XCTAssertEqual(ours, reference, c.name)
        }
    }

    /// Our reader opens what the writer wrote: the same tensors (F32, bit-exact), the settings, and
    /// for one module the merged delta by hand: s·B·A (LoRA), m/‖W + s·B·A‖·(W + s·B·A) − W (DoRA).
    func testWrittenAdapterReadsBackThroughAdapterLoader() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        for c in Fixtures.cases {
            let model = try Fixtures.trainedModel(c)
            let out = tmp.appendingPathComponent(c.name)
            try TrainedModelWriter.writePEFTAdapter(model: model, baseModel: "base-model", to: out)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted(),
                           ["adapter_config.json", "adapter_model.safetensors"])
            let adapter = try XCTUnwrap(try AdapterLoader.load(out) as? PEFTAdapter)
            XCTAssertEqual(AdapterLoader.kind(of: adapter), c.settings.useDoRA ? "DoRA" : "LoRA")
            XCTAssertEqual(adapter.config.r, c.settings.rank)
            XCTAssertEqual(adapter.config.loraAlpha, c.settings.alpha)
            XCTAssertEqual(adapter.config.useRSLoRA, c.settings.useRSLoRA)
            XCTAssertEqual(adapter.config.baseModelNameOrPath, "base-model")
            XCTAssertEqual(Float(try adapter.config.scale(for: "model.layers.0.self_attn.q_proj")), c.settings.scale)
            XCTAssertEqual(Set(adapter.weights.tensorNames), Set(model.trainable.slots.map(\.name)))
            for slot in model.trainable.slots {
                XCTAssertEqual(try adapter.weights.load(slot.name).scalars, model.trainable.value(slot.name)?.scalars, slot.name)
            }
            XCTAssertEqual(Set(adapter.targetTensorNames),
                           Set((0..<model.spec.layerCount).flatMap { l in
                               c.settings.targets.map { LoRALayout.baseWeightName(layer: l, module: $0) } }))

            let module = c.settings.targets[0], name = LoRALayout.baseWeightName(layer: 1, module: module)
            let prefix = "base_model.model.model.layers.1.\(module.path)."
            let a = try XCTUnwrap(model.trainable.value(prefix + "lora_A.weight"))
            let b = try XCTUnwrap(model.trainable.value(prefix + "lora_B.weight"))
            let w = try XCTUnwrap(model.parameter(name))
            let (rows, cols, r) = (b.shape[0], a.shape[1], a.shape[0])
            var expected = [Float](repeating: 0, count: rows * cols)
            for i in 0..<rows {
                for j in 0..<cols {
                    var sum: Double = 0
                    for k in 0..<r { sum += Double(b.scalars[i * r + k]) * Double(a.scalars[k * cols + j]) }
                    expected[i * cols + j] = Float(Double(c.settings.scale) * sum)
                }
            }
            if c.settings.useDoRA {
                let m = try XCTUnwrap(model.trainable.value(prefix + "lora_magnitude_vector"))
                for i in 0..<rows {
                    let row = (0..<cols).map { Double(w.scalars[i * cols + $0]) + Double(expected[i * cols + $0]) }
                    let factor = Double(m.scalars[i]) / row.map { $0 * $0 }.reduce(0, +).squareRoot()
                    for j in 0..<cols { expected[i * cols + j] = Float(factor * row[j] - Double(w.scalars[i * cols + j])) }
                }
            }
            let delta = try XCTUnwrap(try adapter.delta(for: name, base: w))
            XCTAssertLessThanOrEqual(maxAbsDiff(delta.scalars[...], expected[...]), 1e-6, "\(c.name) \(name)")
            XCTAssertGreaterThan(expected.map(abs).max() ?? 0, 1e-3, "\(c.name): the adapter changes the weight")
        }
    }

    /// The adapters scripts/check_train_adapter_with_peft.py loaded into PEFT are what the writer
    /// produces today (weights byte for byte, JSON as parsed values): if the writer changes, this
    /// fails until the check is re-run.
    /// `READAPT_UPDATE_TRAIN_OUTPUT_FIXTURES=1 swift test --filter TrainedModelWriterAdapterTests`
    /// rewrites them in the source tree (then re-run the script, which records the new result).
    func testWrittenAdapterIsTheOnePEFTChecked() throws {
        let update = ProcessInfo.processInfo.environment["READAPT_UPDATE_TRAIN_OUTPUT_FIXTURES"] == "1"
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        for c in Fixtures.cases {
            let model = try Fixtures.trainedModel(c)
            let out = update ? Fixtures.sourceDirectory.appendingPathComponent(c.name) : tmp.appendingPathComponent(c.name)
            try TrainedModelWriter.writePEFTAdapter(model: model, baseModel: Fixtures.baseModelName(c), to: out, replace: update)
            guard !update else { continue }
            let recorded = try Fixtures.url(c.name)
            for file in [TrainedModelWriter.adapterWeightsFileName, TrainedModelWriter.adapterConfigFileName] {
                try Fixtures.assertSameFile(out.appendingPathComponent(file), recorded.appendingPathComponent(file),
                                            "\(c.name)/\(file) is not what PEFT was checked with: re-run scripts/check_train_adapter_with_peft.py")
            }
        }
    }

    /// The recorded PEFT check passed, and our own forward with the recorded adapter (merged in
    /// memory by `AdapterStack`, F32 weights) gives PEFT's logits within 1e-4 absolute.
    func testReadaptLogitsWithTheAdapterEqualPEFTs() throws {
        let check = try Fixtures.jsonObject(Fixtures.url("peft_check.json"))
        let peftLogits = try SafetensorsFile(url: Fixtures.url("peft_logits.safetensors"))
        for c in Fixtures.cases {
            let result = try XCTUnwrap(check[c.name] as? [String: Any], "\(c.name) is missing from peft_check.json")
            XCTAssertEqual(result["missing_keys"] as? [String], [], c.name)
            XCTAssertEqual(result["unexpected_keys"] as? [String], [], c.name)
            XCTAssertEqual(result["all_tensors_loaded"] as? Bool, true, c.name)
            let mergeDifference = try XCTUnwrap(result["max_logit_difference_peft_vs_readapt_merge"] as? Double)
            XCTAssertLessThanOrEqual(mergeDifference, 1e-4, c.name)
            let ids = try XCTUnwrap(result["input_ids"] as? [Int])

            let base = try Fixtures.trainingDirectory(c.base)
            let adapter = try AdapterLoader.load(Fixtures.url(c.name))
            let stack = AdapterStack(entries: [.init(adapter: adapter, scale: 1)])
            let configFile = base.appendingPathComponent("config.json")
            let spec = try ModelSpec(ModelConfig.load(configFile), file: configFile)
            let model = try LanguageModel(spec: spec, source: SafetensorsCheckpoint(directory: base), sourceName: base.path,
                                          storage: .f32, transform: stack.transform)
            let logits = try model.makeSession().forward(ids, allPositions: true)
            let reference = try peftLogits.load(c.name)
            XCTAssertEqual(reference.shape, [ids.count, spec.vocabSize])
            let difference = maxAbsDiff(logits[...], reference.scalars[...])
            XCTAssertLessThanOrEqual(difference, 1e-4, "\(c.name): readapt --adapter vs PEFT")
            let baseDifference = try XCTUnwrap(result["max_logit_difference_peft_vs_base"] as? Double)
            XCTAssertGreaterThan(baseDifference, 0.05, "\(c.name): the adapter must change the logits for the check to mean anything")
            print("\(c.name): readapt vs PEFT logits max-abs \(difference), adapter moves logits by \(baseDifference)")
        }
    }

    /// The training model itself, its adapter slots loaded from the recorded adapter file (as a
    /// resume would), computes PEFT's logits in evaluation mode (no dropout) within 1e-4.
    func testTrainableModelWithTheRecordedAdapterGivesPEFTsLogits() throws {
        let check = try Fixtures.jsonObject(Fixtures.url("peft_check.json"))
        let peftLogits = try SafetensorsFile(url: Fixtures.url("peft_logits.safetensors"))
        for c in Fixtures.cases {
            let ids = try XCTUnwrap((check[c.name] as? [String: Any])?["input_ids"] as? [Int])
            let model = try TrainableModel.load(directory: Fixtures.trainingDirectory(c.base), batchSize: 1,
                                                sequenceLength: ids.count, method: .lora(c.settings), seed: 0)
            let file = try SafetensorsFile(url: Fixtures.url(c.name).appendingPathComponent(TrainedModelWriter.adapterWeightsFileName))
            XCTAssertEqual(Set(file.tensorNames), Set(model.trainable.slots.map(\.name)))
            for name in file.tensorNames { try model.trainable.setValue(name, file.load(name), source: c.name) }
            model.dropoutKey = nil
            try model.forward(inputIDs: ids)
            let difference = maxAbsDiff(model.logits.scalars[...], try peftLogits.load(c.name).scalars[...])
            XCTAssertLessThanOrEqual(difference, 1e-4, "\(c.name): TrainableModel with the adapter vs PEFT")
            print("\(c.name): TrainableModel vs PEFT logits max-abs \(difference)")
        }
    }

    func testErrorsAreTypedAndLeaveNothingBehind() throws {
        let tmp = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let full = try TrainableModel.load(directory: Fixtures.trainingDirectory("llama"), batchSize: 1, sequenceLength: 4)
        let out = tmp.appendingPathComponent("adapter")
        XCTAssertThrowsError(try TrainedModelWriter.writePEFTAdapter(model: full, baseModel: "b", to: out)) { error in
            XCTAssertEqual(error as? TrainedModelWriterError, .noAdapter(output: out.path))
            XCTAssertEqual("\(error)", "Cannot write a PEFT adapter to \(out.path): the model was trained with full fine-tuning, so it has no LoRA/DoRA adapter (write a checkpoint instead).")
        }

        let model = try Fixtures.trainedModel(Fixtures.cases[0])
        let slot = model.trainable.slots[5]
        model.trainable.values.pointer[slot.offset + 1] = .nan
        XCTAssertThrowsError(try TrainedModelWriter.writePEFTAdapter(model: model, baseModel: "b", to: out)) { error in
            XCTAssertEqual(error as? TrainedModelWriterError, .nonFinite(tensor: slot.name, output: out.path))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), [], "a failed write leaves nothing")

        model.trainable.values.pointer[slot.offset + 1] = 0
        try TrainedModelWriter.writePEFTAdapter(model: model, baseModel: "b", to: out)
        XCTAssertThrowsError(try TrainedModelWriter.writePEFTAdapter(model: model, baseModel: "b", to: out)) { error in
            XCTAssertEqual(error as? OutputDirectoryError, .exists(path: out.path))
        }
        try TrainedModelWriter.writePEFTAdapter(model: model, baseModel: "b", to: out, replace: true)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), ["adapter"])
    }
}
