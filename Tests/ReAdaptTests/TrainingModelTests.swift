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
        let reference = try SafetensorsFile(url: dir.appendingPathComponent("reference.safetensors"))
        let model = try TrainableModel.load(directory: dir, batchSize: batch.batch, sequenceLength: batch.seqLen)

        let loss = try XCTUnwrap(try model.forward(inputIDs: batch.inputIDs.flatMap { $0 },
                                                   labels: batch.labels.flatMap { $0 }))
        XCTAssertEqual(Double(loss), batch.loss, accuracy: 1e-5, "\(name) loss")
        let logits = model.logits, refLogits = try reference.load("logits")
        XCTAssertEqual(logits.shape, refLogits.shape)
        let logitError = maxAbsDiff(logits.scalars[...], refLogits.scalars[...])
        XCTAssertLessThanOrEqual(logitError, 1e-4, "\(name) logits")

        model.zeroGradients()
        try model.backward()
        let expected = Set(reference.tensorNames.filter { $0.hasPrefix("grad.") }.map { String($0.dropFirst(5)) })
        XCTAssertEqual(Set(model.layout.slots.map(\.name)), expected, "\(name): the parameters PyTorch trains")
        var worst = (name: "", relative: 0.0)
        for slot in model.layout.slots {
            let ref = try reference.load("grad." + slot.name)
            let got = try XCTUnwrap(model.gradient(slot.name))
            XCTAssertEqual(got.shape, ref.shape, slot.name)
            var diff = 0.0, norm = 0.0, maxAbs: Float = 0
            for (a, b) in zip(got.scalars, ref.scalars) {
                diff += Double(a - b) * Double(a - b)
                norm += Double(b) * Double(b)
                maxAbs = max(maxAbs, abs(a - b))
            }
            XCTAssertGreaterThan(norm, 0, "\(name) \(slot.name): a zero reference gradient proves nothing")
            let relative = (diff / max(norm, 1e-30)).squareRoot()
            XCTAssertLessThanOrEqual(relative, 1e-4, "\(name) \(slot.name): relative \(relative), max-abs \(maxAbs)")
            if relative > worst.relative { worst = (slot.name, relative) }
        }
        print("\(name): loss \(loss) vs \(batch.loss), logits max-abs \(logitError), worst gradient \(worst.name) relative \(worst.relative)")

        // backward ACCUMULATES: a second pass doubles every gradient.
        let once = model.gradients.array()
        try model.backward()
        let twice = model.gradients.array()
        let doubled = zip(once, twice).map { abs(2 * $0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(doubled, 1e-6 * (once.map(abs).max() ?? 1), "\(name): backward accumulates")
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
