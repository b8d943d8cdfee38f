import Foundation
import XCTest
@testable import ReAdapt

/// The Hugging Face view of llama GGUF files: names, shapes, the undone q/k permutation, the
/// config, and logits against transformers (scripts/fixtures/make_gguf_fixtures.py).
final class GGUFCheckpointTests: XCTestCase {
    func testTensorsEqualTheOriginalHuggingFaceCheckpointExactly() throws {
        let gguf = try GGUFCheckpoint(url: try GGUFFixtures.url("tiny_llama.gguf"))
        let original = try SafetensorsFile(url: try GGUFFixtures.url("tiny_llama_hf/model.safetensors"))
        XCTAssertEqual(gguf.tensorNames, original.tensorNames)
        for name in original.tensorNames {
            XCTAssertEqual(gguf.info(name)?.shape, original.info(name)?.shape, name)
            XCTAssertEqual(try gguf.load(name), try original.load(name), name)
        }
        XCTAssertNil(gguf.info("model.layers.9.mlp.up_proj.weight"))
        XCTAssertThrowsError(try gguf.load("model.nope")) { error in
            XCTAssertEqual(error as? GGUFError, .tensorNotFound(file: "tiny_llama.gguf", tensor: "model.nope"))
        }
    }

    /// Guards against a test that passes because q/k were never permuted: the raw GGUF rows differ.
    func testQueryAndKeyRowsAreStoredPermutedInTheFile() throws {
        let file = try GGUFFile(url: try GGUFFixtures.url("tiny_llama.gguf"))
        let original = try SafetensorsFile(url: try GGUFFixtures.url("tiny_llama_hf/model.safetensors"))
        XCTAssertNotEqual(try file.dequantize("blk.0.attn_q.weight"), try original.load("model.layers.0.self_attn.q_proj.weight"))
        XCTAssertNotEqual(try file.dequantize("blk.1.attn_k.weight"), try original.load("model.layers.1.self_attn.k_proj.weight"))
        XCTAssertEqual(try file.dequantize("blk.0.attn_v.weight"), try original.load("model.layers.0.self_attn.v_proj.weight"))
    }

    func testConfigFromMetadataMatchesTheOriginalConfig() throws {
        let gguf = try GGUFCheckpoint(url: try GGUFFixtures.url("tiny_llama.gguf"))
        let configURL = try GGUFFixtures.url("tiny_llama_hf/config.json")
        let expected = try ModelSpec(ModelConfig.load(configURL), file: configURL)
        let spec = try ModelSpec(gguf.config, file: gguf.file.url)
        XCTAssertEqual(spec, expected)
        XCTAssertEqual(gguf.config.tieWordEmbeddings, false)
        XCTAssertEqual(gguf.config.vocabSize, 128)
        XCTAssertEqual(gguf.config.bosTokenId, TokenIDs([1]))
        XCTAssertEqual(gguf.config.eosTokenId, TokenIDs([2]))
    }

    func testMissingOutputTensorMeansATiedHead() throws {
        let gguf = try GGUFCheckpoint(url: try GGUFFixtures.url("tiny_llama_tied.gguf"))
        XCTAssertEqual(gguf.config.tieWordEmbeddings, true)
        XCTAssertFalse(gguf.tensorNames.contains("lm_head.weight"))
        XCTAssertEqual(gguf.info("model.layers.0.self_attn.q_proj.weight")?.shape, [32, 32])
        XCTAssertEqual(try ModelSpec(gguf.config, file: gguf.file.url).tiedHead, true)
    }

    func testLanguageModelFromGGUFGivesTransformersLogits() throws {
        let gguf = try GGUFCheckpoint(url: try GGUFFixtures.url("tiny_llama.gguf"))
        let spec = try ModelSpec(gguf.config, file: gguf.file.url)
        let model = try LanguageModel(spec: spec, source: gguf, sourceName: "tiny_llama.gguf", storage: .f32)
        let sequence = try JSONDecoder().decode([Int].self, from: Data(contentsOf: try GGUFFixtures.url("tiny_llama_sequence.json")))
        let expected = try Data(contentsOf: try GGUFFixtures.url("tiny_llama_logits.bin"))
            .withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let logits = try model.makeSession().forward(sequence, allPositions: true)
        XCTAssertEqual(logits.count, sequence.count * 128)
        XCTAssertLessThanOrEqual(maxAbsDiff(logits[...], expected[...]), 1e-4)
        let fromSafetensors = try LanguageModel.load(directory: try GGUFFixtures.url("tiny_llama_hf"), storage: .f32)
        XCTAssertEqual(try fromSafetensors.makeSession().forward(sequence, allPositions: true), logits)
    }

    func testOtherArchitecturesAndMissingMetadataAreRefusedByName() throws {
        var b = GGUFBuilder.valid()
        b.metadata[0] = ("general.architecture", 8, GGUFBuilder.string("qwen2"))
        let url = try temporaryFile(b.bytes())
        XCTAssertThrowsError(try GGUFCheckpoint(url: url)) { error in
            XCTAssertEqual(error as? GGUFError, .unsupportedArchitecture(file: "test.gguf", architecture: "qwen2"))
            XCTAssertTrue("\(error)".contains("qwen2"))
        }
        b = GGUFBuilder.valid()
        b.tensors[0].name = "rope_freqs.weight"
        XCTAssertThrowsError(try GGUFCheckpoint(url: try temporaryFile(b.bytes()))) { error in
            XCTAssertEqual(error as? GGUFError, .unsupportedRopeFrequencies(file: "test.gguf"))
        }
        let llama = try temporaryFile(GGUFBuilder.valid().bytes())
        XCTAssertThrowsError(try GGUFCheckpoint(url: llama)) { error in
            XCTAssertEqual(error as? GGUFError, .missingMetadata(file: "test.gguf", key: "llama.embedding_length"))
        }
    }

    func testNameMapping() {
        XCTAssertEqual(GGUFCheckpoint.huggingFaceName("blk.12.ffn_down.weight"), "model.layers.12.mlp.down_proj.weight")
        XCTAssertEqual(GGUFCheckpoint.huggingFaceName("blk.0.attn_norm.weight"), "model.layers.0.input_layernorm.weight")
        XCTAssertEqual(GGUFCheckpoint.huggingFaceName("blk.0.ffn_norm.weight"), "model.layers.0.post_attention_layernorm.weight")
        XCTAssertEqual(GGUFCheckpoint.huggingFaceName("output.weight"), "lm_head.weight")
        XCTAssertNil(GGUFCheckpoint.huggingFaceName("rope_freqs.weight"))
        XCTAssertNil(GGUFCheckpoint.huggingFaceName("blk.01.attn_q.weight"))
        XCTAssertNil(GGUFCheckpoint.huggingFaceName("blk.0.attn_q.scale"))
    }

    /// Every tensor of the real SmolLM2-135M-Instruct Q4_1 GGUF against transformers' own
    /// dequantization of it, when READAPT_GGUF_REAL_FILE and READAPT_GGUF_REAL_REFERENCE are set.
    func testRealSmolLM2MatchesTransformersDequantization() throws {
        let env = ProcessInfo.processInfo.environment
        guard let path = env["READAPT_GGUF_REAL_FILE"], let referencePath = env["READAPT_GGUF_REAL_REFERENCE"] else {
            throw XCTSkip("set READAPT_GGUF_REAL_FILE (a .gguf) and READAPT_GGUF_REAL_REFERENCE (its model.safetensors)")
        }
        let gguf = try GGUFCheckpoint(url: URL(fileURLWithPath: path))
        let reference = try SafetensorsFile(url: URL(fileURLWithPath: referencePath))
        var worst: Float = 0
        var seconds = 0.0, elements = 0
        for name in reference.tensorNames {
            guard gguf.info(name) != nil else {
                XCTAssertTrue(name == "lm_head.weight" && gguf.config.tieWordEmbeddings == true, "missing \(name)")
                continue
            }
            let start = DispatchTime.now().uptimeNanoseconds
            let ours = try gguf.load(name)
            seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            elements += ours.scalars.count
            let theirs = try reference.load(name)
            XCTAssertEqual(ours.shape, theirs.shape, name)
            worst = max(worst, maxAbsDiff(ours.scalars[...], theirs.scalars[...]))
        }
        print("SmolLM2 GGUF vs transformers: \(reference.tensorNames.count) tensors, max |Δ| \(worst); "
              + "GGUFCheckpoint.load: \(elements) values in \(seconds) s")
        XCTAssertEqual(worst, 0)

        // The directory of scripts/bench/make_real_smollm2_reference.py also holds config.json and logits.
        let dir = URL(fileURLWithPath: referencePath).deletingLastPathComponent()
        let configURL = dir.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configURL.path) else { return }
        let spec = try ModelSpec(gguf.config, file: gguf.file.url)
        XCTAssertEqual(spec, try ModelSpec(ModelConfig.load(configURL), file: configURL))
        struct Reference: Decodable { var ids: [Int] }
        let ids = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: dir.appendingPathComponent("reference.json"))).ids
        let expected = try Data(contentsOf: dir.appendingPathComponent("reference_logits.bin"))
            .withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let model = try LanguageModel(spec: spec, source: gguf, sourceName: path, storage: .f32)
        let diff = maxAbsDiff(try model.makeSession().forward(ids, allPositions: true)[...], expected[...])
        print("SmolLM2 GGUF through LanguageModel vs transformers: max |Δlogit| \(diff)")
        XCTAssertLessThanOrEqual(diff, 1e-3)
    }
}
