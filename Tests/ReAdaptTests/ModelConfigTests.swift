import Foundation
import XCTest
@testable import ReAdapt

/// config.json parsing: transformers 5.x defaults per model_type, derived architecture fields, refusals.
final class ModelConfigTests: XCTestCase {
    let file = URL(fileURLWithPath: "/models/x/config.json")

    func spec(_ json: String) throws -> ModelSpec {
        try ModelSpec(ModelConfig.decode(Data(json.utf8), file: file), file: file)
    }

    func testLlama3ConfigAsOnTheHub() throws {
        let s = try spec("""
        {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048,
         "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
         "num_key_value_heads": 8, "head_dim": 64, "rms_norm_eps": 1e-05, "vocab_size": 128256,
         "max_position_embeddings": 131072, "rope_theta": 500000.0, "tie_word_embeddings": true,
         "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                          "original_max_position_embeddings": 8192, "rope_type": "llama3"},
         "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "torch_dtype": "bfloat16"}
        """)
        XCTAssertEqual(s.kvHeadCount, 8)
        XCTAssertEqual(s.headDim, 64)
        XCTAssertEqual(s.rmsNormEps, 1e-5)
        XCTAssertTrue(s.tiedHead)
        XCTAssertEqual(s.ropeTheta, 500000)
        XCTAssertEqual(s.ropeScaling, .llama3(factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192))
        XCTAssertEqual(s.eosTokenIDs, [128001, 128008, 128009])
        XCTAssertEqual(s.bosTokenIDs, [128000])
        XCTAssertEqual(s.activation, .silu)
        XCTAssertFalse(s.qkvBias || s.outputBias || s.mlpBias || s.normAddsOne)
        XCTAssertEqual(s.embeddingScale, 1)
        XCTAssertNil(s.slidingWindow)
    }

    func testLlamaDefaults() throws {
        let s = try spec(#"{"model_type": "llama"}"#)
        XCTAssertEqual([s.hiddenSize, s.intermediateSize, s.layerCount, s.headCount, s.kvHeadCount, s.headDim],
                       [4096, 11008, 32, 32, 32, 128])
        XCTAssertEqual(s.rmsNormEps, 1e-6)
        XCTAssertEqual(s.maxPositions, 2048)
        XCTAssertEqual(s.vocabSize, 32000)
        XCTAssertFalse(s.tiedHead)
        XCTAssertEqual(s.ropeTheta, 10000)
        XCTAssertEqual(s.ropeScaling, RopeScaling.none)
        XCTAssertEqual(s.eosTokenIDs, [2])
        let biased = try spec(#"{"model_type": "llama", "attention_bias": true, "mlp_bias": true}"#)
        XCTAssertTrue(biased.qkvBias && biased.outputBias && biased.mlpBias)
    }

    func testMistralDefaultsAndSlidingWindow() throws {
        let s = try spec(#"{"model_type": "mistral"}"#)
        XCTAssertEqual(s.kvHeadCount, 8)
        XCTAssertEqual(s.maxPositions, 131072)
        XCTAssertEqual(s.slidingWindow, 4096)  // absent → MistralConfig's default
        // null is None in transformers: no window (Mistral-7B v0.2+ files say this).
        XCTAssertNil(try spec(#"{"model_type": "mistral", "sliding_window": null}"#).slidingWindow)
        let nulls = try spec(#"{"model_type": "gemma", "head_dim": null, "num_key_value_heads": null, "eos_token_id": null}"#)
        XCTAssertEqual(nulls.headDim, 3072 / 16)
        XCTAssertEqual(nulls.kvHeadCount, 16)
        XCTAssertEqual(nulls.eosTokenIDs, [])
        XCTAssertEqual(try spec(#"{"model_type": "mistral", "sliding_window": 16}"#).slidingWindow, 16)
    }

    func testQwen2ConfigAsOnTheHub() throws {
        let s = try spec("""
        {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896,
         "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
         "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
         "sliding_window": 32768, "use_sliding_window": false, "max_window_layers": 21,
         "tie_word_embeddings": true, "vocab_size": 151936, "max_position_embeddings": 32768,
         "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu"}
        """)
        XCTAssertTrue(s.qkvBias)
        XCTAssertFalse(s.outputBias)
        XCTAssertFalse(s.mlpBias)
        XCTAssertTrue(s.tiedHead)
        XCTAssertEqual(s.headDim, 64)
        XCTAssertNil(s.slidingWindow)
        XCTAssertEqual(s.eosTokenIDs, [151645])
        let defaults = try spec(#"{"model_type": "qwen2"}"#)
        XCTAssertEqual(defaults.kvHeadCount, 32)
        XCTAssertFalse(defaults.tiedHead)
        XCTAssertEqual(defaults.eosTokenIDs, [])
        XCTAssertThrowsError(try spec(#"{"model_type": "qwen2", "use_sliding_window": true}"#)) {
            XCTAssertEqual($0 as? ModelConfigError,
                           .unsupportedOption(file: self.file, option: "use_sliding_window", value: "true"))
        }
    }

    func testGemmaConfigAsOnTheHub() throws {
        let s = try spec("""
        {"architectures": ["GemmaForCausalLM"], "model_type": "gemma", "hidden_size": 3072,
         "intermediate_size": 24576, "num_attention_heads": 16, "num_key_value_heads": 16,
         "head_dim": 256, "hidden_act": "gelu", "hidden_activation": "gelu_pytorch_tanh",
         "num_hidden_layers": 28, "vocab_size": 256000, "rms_norm_eps": 1e-06, "rope_theta": 10000.0,
         "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0, "max_position_embeddings": 8192}
        """)
        XCTAssertEqual(s.activation, .geluTanh)  // Gemma's legacy "gelu" means the tanh approximation
        XCTAssertTrue(s.normAddsOne)
        XCTAssertTrue(s.tiedHead)
        XCTAssertEqual(s.headDim, 256)
        XCTAssertEqual(s.embeddingScale, Float(Double(3072).squareRoot()))
        let defaults = try spec(#"{"model_type": "gemma", "hidden_size": 2048}"#)
        XCTAssertEqual(defaults.headDim, 256)
        XCTAssertEqual(defaults.kvHeadCount, 16)
        XCTAssertEqual(defaults.eosTokenIDs, [1])
        // Outside Gemma, "gelu" is the exact erf GELU.
        XCTAssertEqual(try spec(#"{"model_type": "llama", "hidden_act": "gelu"}"#).activation, .gelu)
    }

    func testRopeParametersFormAndLinearScaling() throws {
        let s = try spec("""
        {"model_type": "mistral", "rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 50000.0}}
        """)
        XCTAssertEqual(s.ropeTheta, 50000)
        XCTAssertEqual(s.ropeScaling, .linear(factor: 2))
        // Old files name the type "type"; llama3 without original_max_position_embeddings uses max positions.
        let old = try spec("""
        {"model_type": "llama", "max_position_embeddings": 4096,
         "rope_scaling": {"type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4}}
        """)
        XCTAssertEqual(old.ropeScaling, .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 4096))
    }

    func testInverseFrequenciesMatchTransformers() throws {
        // LlamaRotaryEmbedding(config).inv_freq from transformers 5.23, head_dim 16.
        let expected: [String: [Float]] = [
            #""rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 16, "rope_theta": 500"#:
                [0.5760563611984253, 0.08042290806770325, 0.0264342799782753, 0.01215615589171648,
                 0.005590170156210661, 0.0025707141030579805, 0.0011821769876405597, 0.0005436398205347359],
            #""rope_type": "linear", "factor": 2, "rope_theta": 10000"#:
                [0.5, 0.15811388194561005, 0.05000000074505806, 0.015811389312148094,
                 0.004999999888241291, 0.0015811389312148094, 0.0005000000237487257, 0.00015811389312148094],
            #""rope_type": "default", "rope_theta": 10000"#:
                [1.0, 0.3162277638912201, 0.10000000149011612, 0.03162277862429619,
                 0.009999999776482582, 0.003162277862429619, 0.0010000000474974513, 0.0003162277862429619],
        ]
        for (rope, values) in expected {
            let s = try spec(#"{"model_type": "llama", "hidden_size": 32, "num_attention_heads": 2, "head_dim": 16, "rope_parameters": {"# + rope + "}}")
            for (got, want) in zip(s.inverseFrequencies, values) {
                XCTAssertEqual(got, want, accuracy: 2e-7 * want, rope)
            }
        }
    }

    func testUnsupportedOptionsAreRefusedByName() {
        let cases: [(String, ModelConfigError)] = [
            (#"{"model_type": "gpt2"}"#, .unsupportedModelType(file: file, modelType: "gpt2")),
            (#"{"hidden_size": 8}"#, .unsupportedModelType(file: file, modelType: "(missing)")),
            (#"{"model_type": "llama", "rope_scaling": {"rope_type": "yarn", "factor": 4}}"#,
             .unsupportedOption(file: file, option: "rope_type", value: "\"yarn\"")),
            (#"{"model_type": "llama", "hidden_act": "relu"}"#,
             .unsupportedOption(file: file, option: "hidden_act", value: "\"relu\"")),
            (#"{"model_type": "llama", "partial_rotary_factor": 0.5}"#,
             .unsupportedOption(file: file, option: "partial_rotary_factor", value: "0.5")),
            (#"{"model_type": "llama", "rope_scaling": {"rope_type": "linear"}}"#,
             .invalidValue(file: file, field: "rope factor", reason: "rope_type linear needs a positive factor")),
            (#"{"model_type": "llama", "num_attention_heads": 6, "num_key_value_heads": 4}"#,
             .invalidValue(file: file, field: "num_key_value_heads", reason: "4 does not divide num_attention_heads 6")),
            (#"{"model_type": "llama", "hidden_size": 0}"#,
             .invalidValue(file: file, field: "hidden_size", reason: "0 is not positive")),
        ]
        for (json, expected) in cases {
            XCTAssertThrowsError(try spec(json), json) { error in
                XCTAssertEqual(error as? ModelConfigError, expected, json)
                XCTAssertTrue("\(error)".contains("/models/x/config.json"))
            }
        }
    }

    func testMalformedAndMissingFilesGiveOneSentence() throws {
        XCTAssertThrowsError(try spec(#"{"model_type": "llama", "hidden_size": "big"}"#)) { error in
            guard case .invalidJSON(_, let detail)? = error as? ModelConfigError else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.contains("hidden_size"), detail)
        }
        XCTAssertThrowsError(try spec("{not json")) { XCTAssertNotNil($0 as? ModelConfigError) }
        let missing = URL(fileURLWithPath: "/nonexistent/config.json")
        XCTAssertThrowsError(try ModelConfig.load(missing)) {
            XCTAssertEqual($0 as? ModelConfigError, .unreadable(file: missing))
        }
    }
}
