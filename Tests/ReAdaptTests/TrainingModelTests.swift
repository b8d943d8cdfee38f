import Foundation
import XCTest
@testable import ReAdapt

/// The training forward and backward against PyTorch (scripts/fixtures/make_training_fixtures.py):
/// tiny random Llama (untied head), Qwen2 (tied head, q/k/v biases) and Gemma (tied, (1+w) norms,
/// √hidden embedding scale, GELU-tanh, head_dim ≠ hidden/heads), Llama with o_proj/MLP biases and
/// 4 query heads per KV head, and Mistral with a 3-token sliding window; one batch of 2×8 with ignored labels.
final class TrainingModelTests: XCTestCase {
    struct Batch: Decodable {
        var batch: Int
        var seqLen: Int
        var inputIDs: [[Int]]
        var labels: [[Int]]
        var loss: Double
        enum CodingKeys: String, CodingKey {
            case batch, seqLen = "seq_len", inputIDs = "input_ids", labels, loss
        }
    }

    static func directory(_ name: String) throws -> URL {
        let root = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return root.appendingPathComponent("training").appendingPathComponent(name)
    }

    /// Tolerances: loss within 1e-5 absolute (it is ~6, so ~2e-6 relative); logits within 1e-4
    /// absolute of values of magnitude ~5; each parameter's gradient within relative error
    /// ‖g − g_ref‖ / ‖g_ref‖ ≤ 1e-4.
    func check(_ name: String) throws {
        let dir = try Self.directory(name)
        let batch = try JSONDecoder().decode(Batch.self, from: Data(contentsOf: dir.appendingPathComponent("batch.json")))
        let model = try TrainableModel.load(directory: dir, batchSize: batch.batch, sequenceLength: batch.seqLen)

        try compare(model, batch: batch, loss: batch.loss, note: "full fine-tuning",
                    reference: dir.appendingPathComponent("reference.safetensors"), label: name)
        XCTAssertEqual(model.trainable.slots, model.layout.slots, "\(name): full fine-tuning trains every parameter")
    }

    func testLlamaUntiedHead() throws { try check("llama") }
    func testQwen2TiedHeadWithQKVBiases() throws { try check("qwen2") }
    func testGemmaScaledEmbeddingAndGeluTanh() throws { try check("gemma") }
    func testLlamaWithOutputAndMLPBiasesAndOneKVHead() throws { try check("llama_bias") }
    func testMistralSlidingWindowShorterThanSequence() throws { try check("mistral") }

    func testLoadingErrorsNameTheTensor() throws {
        let dir = try Self.directory("qwen2")
        let configFile = dir.appendingPathComponent("config.json")
        let spec = try ModelSpec(ModelConfig.load(configFile), file: configFile)
        let checkpoint = try SafetensorsCheckpoint(directory: dir)
        var tensors: [String: Tensor] = [:]
        for n in checkpoint.tensorNames { tensors[n] = try checkpoint.load(n) }
        var missing = EditedSource(tensors: tensors)
        missing.tensors["model.layers.1.self_attn.k_proj.bias"] = nil
        XCTAssertThrowsError(try TrainableModel(spec: spec, source: missing, sourceName: "ckpt", batchSize: 1,
                                                sequenceLength: 4)) { error in
            XCTAssertEqual(error as? ModelLoadError,
                           .missingTensor(source: "ckpt", name: "model.layers.1.self_attn.k_proj.bias"))
        }
        var reshaped = EditedSource(tensors: tensors)
        reshaped.tensors["model.norm.weight"] = Tensor(zeros: [31])
        XCTAssertThrowsError(try TrainableModel(spec: spec, source: reshaped, sourceName: "ckpt", batchSize: 1,
                                                sequenceLength: 4)) { error in
            XCTAssertEqual(error as? ModelLoadError,
                           .wrongShape(source: "ckpt", name: "model.norm.weight", expected: [32], found: [31]))
        }
        XCTAssertThrowsError(try TrainableModel(spec: spec, source: EditedSource(tensors: tensors), sourceName: "ckpt",
                                                batchSize: 1, sequenceLength: 65)) { error in
            XCTAssertEqual(error as? TrainingError, .sequenceTooLong(seqLen: 65, maxPositions: 64))
            XCTAssertTrue("\(error)".contains("65"))
        }
        // A tied model has no lm_head slot; its parameters are exactly the checkpoint's tensors.
        let model = try TrainableModel(spec: spec, source: EditedSource(tensors: tensors), sourceName: "ckpt",
                                       batchSize: 1, sequenceLength: 4)
        XCTAssertNil(model.layout.slot(named: "lm_head.weight"))
        XCTAssertEqual(Set(model.layout.slots.map(\.name)), Set(tensors.keys))
        XCTAssertEqual(model.parameter("model.norm.weight"), tensors["model.norm.weight"])
    }

    func testInputErrorsAreTypedAndDescribed() throws {
        let model = try TrainableModel.load(directory: try Self.directory("llama"), batchSize: 1, sequenceLength: 4)
        XCTAssertThrowsError(try model.forward(inputIDs: [1, 2, 3])) { error in
            XCTAssertEqual(error as? TrainingError, .wrongTokenCount(what: "input ids", expected: 4, found: 3))
            XCTAssertTrue("\(error)".contains("3 tokens"))
        }
        XCTAssertThrowsError(try model.forward(inputIDs: [1, 2, 3, 96])) { error in
            XCTAssertEqual(error as? TrainingError, .tokenOutOfRange(what: "input ids", token: 96, vocabSize: 96))
        }
        XCTAssertThrowsError(try model.forward(inputIDs: [1, 2, 3, 4], labels: [1, 2, 3, 500])) { error in
            XCTAssertEqual(error as? TrainingError, .tokenOutOfRange(what: "labels", token: 500, vocabSize: 96))
        }
        XCTAssertThrowsError(try model.forward(inputIDs: [1, 2, 3, 4], labels: [1, -1, 3, 4])) { error in
            XCTAssertEqual(error as? TrainingError, .tokenOutOfRange(what: "labels", token: -1, vocabSize: 96))
        }
        XCTAssertThrowsError(try model.forward(inputIDs: [1, 2, 3, 4], labels: [1, 2])) { error in
            XCTAssertEqual(error as? TrainingError, .wrongTokenCount(what: "labels", expected: 4, found: 2))
        }
        // All targets ignored: loss 0 and a zero gradient (PyTorch would give NaN).
        XCTAssertEqual(try model.forward(inputIDs: [1, 2, 3, 4], labels: [-100, -100, -100, -100]), 0)
        model.zeroGradients()
        try model.backward()
        XCTAssertEqual(model.gradients.array().map(abs).max(), 0)
        try model.forward(inputIDs: [1, 2, 3, 4])
        XCTAssertThrowsError(try model.backward()) { error in
            XCTAssertEqual(error as? TrainingError, .backwardWithoutLoss)
        }
        XCTAssertThrowsError(try TrainableModel.load(directory: try Self.directory("llama"), batchSize: 0,
                                                     sequenceLength: 4)) { error in
            XCTAssertEqual(error as? TrainingError, .invalidBatchShape(batch: 0, seqLen: 4))
        }
    }
}
