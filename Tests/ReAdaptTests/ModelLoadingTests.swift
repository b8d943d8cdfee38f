import Foundation
import XCTest
@testable import ReAdapt

/// A checkpoint in memory: the fixture's tensors with some removed, reshaped or added.
struct EditedSource: TensorSource {
    var tensors: [String: Tensor]
    var tensorNames: [String] { tensors.keys.sorted() }
    func info(_ name: String) -> TensorInfo? {
        tensors[name].map { TensorInfo(name: name, dtype: .f32, shape: $0.shape) }
    }
    func load(_ name: String) throws -> Tensor { tensors[name]! }
}

final class ModelLoadingTests: XCTestCase {
    func fixture(_ name: String) throws -> (ModelSpec, EditedSource) {
        let directory = try ModelFixtures.directory(name)
        let configFile = directory.appendingPathComponent("config.json")
        let spec = try ModelSpec(ModelConfig.load(configFile), file: configFile)
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        var tensors: [String: Tensor] = [:]
        for n in checkpoint.tensorNames { tensors[n] = try checkpoint.load(n) }
        return (spec, EditedSource(tensors: tensors))
    }

    func testMissingTensorIsNamed() throws {
        var (spec, source) = try fixture("llama")
        source.tensors["model.layers.1.self_attn.k_proj.weight"] = nil
        XCTAssertThrowsError(try LanguageModel(spec: spec, source: source, sourceName: "ckpt", storage: .f32)) {
            XCTAssertEqual($0 as? ModelLoadError,
                           .missingTensor(source: "ckpt", name: "model.layers.1.self_attn.k_proj.weight"))
            XCTAssertTrue("\($0)".contains("ckpt"))
        }
        // An untied model needs lm_head; a tied one (qwen2) has none and loads.
        var untied = source
        (spec, untied) = try fixture("llama")
        untied.tensors["lm_head.weight"] = nil
        XCTAssertThrowsError(try LanguageModel(spec: spec, source: untied, sourceName: "ckpt", storage: .f32))
        let (qwenSpec, qwen) = try fixture("qwen2")
        XCTAssertNil(qwen.tensors["lm_head.weight"])
        XCTAssertNoThrow(try LanguageModel(spec: qwenSpec, source: qwen, sourceName: "ckpt", storage: .f32))
    }

    func testWrongShapeIsNamed() throws {
        var (spec, source) = try fixture("qwen2")
        source.tensors["model.layers.0.self_attn.q_proj.bias"] = Tensor(zeros: [3])
        XCTAssertThrowsError(try LanguageModel(spec: spec, source: source, sourceName: "ckpt", storage: .f32)) {
            XCTAssertEqual($0 as? ModelLoadError, .wrongShape(source: "ckpt", name: "model.layers.0.self_attn.q_proj.bias",
                                                              expected: [64], found: [3]))
        }
    }

    func testExtraTensorsSuchAsRotaryInvFreqAreIgnored() throws {
        var (spec, source) = try fixture("gemma")
        source.tensors["model.layers.0.self_attn.rotary_emb.inv_freq"] = Tensor(zeros: [8])
        let model = try LanguageModel(spec: spec, source: source, sourceName: "ckpt", storage: .f32)
        let sequence = try ModelFixtures.reference("gemma").sequences[1]
        let logits = try model.makeSession().forward(sequence, allPositions: true)
        XCTAssertLessThanOrEqual(maxAbsDiff(logits[...], try ModelFixtures.logits("gemma", 1)[...]), 1e-4)
    }

    func testTransformSeesEveryHuggingFaceNameAndChangesTheModel() throws {
        var seen: [String] = []
        let directory = try ModelFixtures.directory("llama_bias")
        let model = try LanguageModel.load(directory: directory, storage: .f32) { name, tensor in
            seen.append(name)
            // Zeroing the final norm makes every logit zero: the transform really feeds the model.
            return name == "model.norm.weight" ? Tensor(zeros: tensor.shape) : tensor
        }
        XCTAssertTrue(seen.contains("model.layers.2.mlp.down_proj.bias"))
        XCTAssertTrue(seen.contains("model.layers.0.self_attn.o_proj.bias"))
        XCTAssertEqual(seen.count, Set(seen).count)
        let logits = try model.makeSession().forward([1, 2, 3])
        XCTAssertEqual(logits.map(abs).max(), 0)
    }

    func testMissingDirectoryGivesAClearError() {
        let nowhere = URL(fileURLWithPath: "/nonexistent/model")
        XCTAssertThrowsError(try LanguageModel.load(directory: nowhere)) {
            XCTAssertEqual($0 as? ModelConfigError, .unreadable(file: nowhere.appendingPathComponent("config.json")))
        }
    }
}
