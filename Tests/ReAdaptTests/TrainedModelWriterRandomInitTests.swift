import Foundation
import XCTest
@testable import ReAdapt

/// `TrainableModel.initializeRandomly(seed:)` (`--init random`) against transformers' `_init_weights`:
/// which parameters are random, ones or zeros and which embedding rows are zero come from PyTorch
/// (Fixtures/train_outputs/init_rules.json, `from_config` on each training fixture's config, from
/// scripts/fixtures/make_train_output_fixtures.py); the random draws themselves cannot equal torch's,
/// so their distribution is checked statistically.
final class TrainedModelWriterRandomInitTests: XCTestCase {
    typealias Fixtures = TrainOutputFixtures

    /// Sampling tolerances for n independent N(0, σ²) draws: the sample mean has standard deviation
    /// σ/√n and the sample standard deviation has relative standard deviation ≈ 1/√(2n); five of those
    /// (a 1-in-1.7-million false alarm per check) is the bound.
    func assertNormal(_ values: [Float], std sigma: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let n = Double(values.count)
        let mean = values.reduce(0.0) { $0 + Double($1) } / n
        let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / (n - 1)
        XCTAssertLessThanOrEqual(abs(mean), 5 * sigma / n.squareRoot(), "\(what): mean \(mean)", file: file, line: line)
        XCTAssertLessThanOrEqual(abs(variance.squareRoot() / sigma - 1), 5 / (2 * n).squareRoot(),
                                 "\(what): std \(variance.squareRoot()) for σ = \(sigma)", file: file, line: line)
    }

    func testRulesMatchTransformersInitWeights() throws {
        let reference = try Fixtures.jsonObject(Fixtures.url("init_rules.json"))
        XCTAssertEqual(Set(reference.keys), ["gemma", "llama", "llama_bias", "mistral", "qwen2"])
        for (name, entry) in reference {
            let fixture = try XCTUnwrap(entry as? [String: Any])
            let rules = try XCTUnwrap(fixture["parameters"] as? [String: [String: Any]])
            let model = try TrainableModel.load(directory: Fixtures.trainingDirectory(name), batchSize: 1, sequenceLength: 4)
            model.initializeRandomly(seed: 1)
            let sigma = try XCTUnwrap(fixture["initializer_range"] as? Double)
            XCTAssertEqual(model.spec.initializerRange, sigma)
            XCTAssertEqual(Set(model.layout.slots.map(\.name)), Set(rules.keys), "\(name): the parameters (a tied head is the embedding)")
            for slot in model.layout.slots {
                let rule = try XCTUnwrap(rules[slot.name]?["rule"] as? String)
                let values = try XCTUnwrap(model.parameter(slot.name)).scalars
                switch rule {
                case "ones": XCTAssertTrue(values.allSatisfy { $0 == 1 }, "\(name) \(slot.name) is all ones in transformers")
                case "zeros": XCTAssertTrue(values.allSatisfy { $0 == 0 }, "\(name) \(slot.name) is all zeros in transformers")
                default:
                    let zeroRows = try XCTUnwrap(rules[slot.name]?["zero_rows"] as? [Int])
                    let width = slot.shape.count == 2 ? slot.shape[1] : slot.count
                    let ours = (0..<(slot.count / width)).filter { r in values[(r * width)..<((r + 1) * width)].allSatisfy { $0 == 0 } }
                    XCTAssertEqual(slot.shape.count == 2 ? ours : [], zeroRows, "\(name) \(slot.name): zero rows (padding token)")
                    let random = (0..<(slot.count / width)).filter { !zeroRows.contains($0) }
                        .flatMap { values[($0 * width)..<(($0 + 1) * width)] }
                    assertNormal(random, std: sigma, "\(name) \(slot.name)")
                }
            }
        }
    }

    /// A model large enough for tight statistics (embedding 2000 × 256 = 512k draws, q_proj 65k), with
    /// a non-default initializer_range read from the config, and the loss of the fresh model on
    /// uniformly random tokens: ≈ ln(vocab) because the logits are nearly equal (their spread is
    /// σ·√hidden ≈ 0.32 with σ = 0.02, which adds ≈ 0.32²/2 ≈ 0.05 in expectation), checked within 0.1.
    func testStatisticsAndUniformLossOnALargerModel() throws {
        for range in [0.05, 0.02] {
            let model = try Self.zeroModel(initializerRange: range, batchSize: 4, sequenceLength: 64)
            XCTAssertEqual(model.spec.initializerRange, range)
            model.initializeRandomly(seed: 5)
            for name in ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.down_proj.weight",
                         "lm_head.weight"] {
                assertNormal(try XCTUnwrap(model.parameter(name)).scalars, std: range, "\(name) at \(range)")
            }
            guard range == 0.02 else { continue }
            var random = Fixtures.SplitMix(state: 99)
            let vocab = UInt64(model.spec.vocabSize)
            let tokens = (0..<(4 * 64)).map { _ in Int(random.next() % vocab) }
            let loss = try XCTUnwrap(try model.forward(inputIDs: tokens, labels: tokens))
            XCTAssertEqual(Double(loss), log(Double(vocab)), accuracy: 0.1, "loss \(loss) vs ln(\(vocab))")
            print("random init: loss \(loss) on uniform tokens, ln(vocab) = \(log(Double(vocab)))")
        }
    }

    func testDeterministicFromTheSeedAndNormsExact() throws {
        let a = try Self.zeroModel(initializerRange: 0.02, batchSize: 1, sequenceLength: 4)
        let b = try Self.zeroModel(initializerRange: 0.02, batchSize: 1, sequenceLength: 4)
        a.initializeRandomly(seed: 42)
        b.initializeRandomly(seed: 42)
        XCTAssertEqual(a.parameters.array(), b.parameters.array(), "same seed, same parameters")
        b.initializeRandomly(seed: 43)
        let differing = zip(a.parameters.array(), b.parameters.array()).filter { $0 != $1 }.count
        XCTAssertGreaterThan(differing, a.parameters.count * 9 / 10, "another seed draws other values")
        // Different tensors do not repeat each other's stream.
        XCTAssertNotEqual(a.parameter("model.layers.0.self_attn.k_proj.weight")?.scalars,
                          a.parameter("model.layers.0.self_attn.v_proj.weight")?.scalars)
        XCTAssertEqual(a.parameter("model.norm.weight")?.scalars, [Float](repeating: 1, count: 256))
        XCTAssertEqual(a.parameter("model.layers.1.post_attention_layernorm.weight")?.scalars, [Float](repeating: 1, count: 256))
    }

    /// Under DoRA the adapter is re-initialised after the base: each magnitude is its new weight row's norm.
    func testDoRAMagnitudesFollowTheNewWeights() throws {
        let c = Fixtures.cases[1]
        XCTAssertTrue(c.settings.useDoRA)
        let model = try TrainableModel.load(directory: Fixtures.trainingDirectory(c.base), batchSize: 1, sequenceLength: 4,
                                            method: .lora(c.settings), seed: 3)
        model.initializeRandomly(seed: 8)
        let w = try XCTUnwrap(model.parameter("model.layers.0.self_attn.q_proj.weight"))
        let m = try XCTUnwrap(model.trainable.value("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector"))
        let columns = w.shape[1]
        for row in 0..<w.shape[0] {
            let norm = (0..<columns).map { Double(w.scalars[row * columns + $0]) }.map { $0 * $0 }.reduce(0, +).squareRoot()
            XCTAssertEqual(Double(m.scalars[row]), norm, accuracy: 1e-6)
        }
        XCTAssertTrue(model.trainable.value("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight")!.scalars.allSatisfy { $0 == 0 })
    }

    /// A Llama of hidden 256 (4 heads), 2 layers, vocabulary 2000, untied, loaded from zeros.
    static func zeroModel(initializerRange: Double, batchSize: Int, sequenceLength: Int) throws -> TrainableModel {
        let json = """
        {"model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 2000, "max_position_embeddings": 128,
         "tie_word_embeddings": false, "initializer_range": \(initializerRange)}
        """
        let file = URL(fileURLWithPath: "/synthetic/config.json")
        let spec = try ModelSpec(ModelConfig.decode(Data(json.utf8), file: file), file: file)
        var tensors: [String: Tensor] = [:]
        for slot in ParameterLayout(spec: spec).slots { tensors[slot.name] = Tensor(zeros: slot.shape) }
        return try TrainableModel(spec: spec, source: EditedSource(tensors: tensors), sourceName: "zeros",
                                  batchSize: batchSize, sequenceLength: sequenceLength)
    }
}
