import Foundation
import XCTest
@testable import ReAdapt

/// PEFT's pattern-key rule, PATH:SCALE arguments and the --layer-scale grammar.
final class AdapterParsingTests: XCTestCase {
    // MARK: rank_pattern / alpha_pattern keys (peft.utils.other.get_pattern_key)

    func testPatternKeyMatchesAfterADotOnly() throws {
        let key = "layers.1.self_attn.k_proj"
        XCTAssertEqual(try PEFTAdapterConfig.firstMatchingKey([key], module: "model.layers.1.self_attn.k_proj"), key)
        XCTAssertNil(try PEFTAdapterConfig.firstMatchingKey([key], module: "model.layers.11.self_attn.k_proj"))
        XCTAssertNil(try PEFTAdapterConfig.firstMatchingKey(["q_proj"], module: "model.layers.0.self_attn.xq_proj"))
        XCTAssertNil(try PEFTAdapterConfig.firstMatchingKey(["q_proj"], module: "model.layers.0.self_attn.q_proj.x"))
    }

    func testFirstMatchingKeyInOrderWinsNotTheMostSpecific() throws {
        let module = "model.layers.1.self_attn.q_proj"
        XCTAssertEqual(try PEFTAdapterConfig.firstMatchingKey([".*q_proj", module], module: module), ".*q_proj")
        XCTAssertEqual(try PEFTAdapterConfig.firstMatchingKey([module, ".*q_proj"], module: module), module)
    }

    /// The key is wrapped in its own group, so an alternation stays inside it.
    func testAlternationIsGroupedAsPEFTDoes() throws {
        let key = "mlp\\.(gate|up)_proj"
        XCTAssertEqual(try PEFTAdapterConfig.firstMatchingKey([key], module: "model.layers.4.mlp.up_proj"), key)
        XCTAssertEqual(try PEFTAdapterConfig.firstMatchingKey(["gate_proj|up_proj"], module: "model.layers.4.mlp.up_proj"), "gate_proj|up_proj")
        XCTAssertNil(try PEFTAdapterConfig.firstMatchingKey([key], module: "model.layers.4.mlp.down_proj"))
    }

    func testInvalidPatternKeyIsAConfigError() {
        let message = AdapterFixtures.errorDescription { _ = try PEFTAdapterConfig.firstMatchingKey(["q_(proj"], module: "q_proj") }
        XCTAssertTrue(message.contains("q_(proj"), message)
    }

    /// The ranks PEFT itself built for the fixture (its tensor shapes) equal the config's answer.
    func testConfigRanksAgreeWithWhatPEFTBuilt() throws {
        let config = try PEFTAdapterConfig.load(AdapterFixtures.url("lora_patterns/adapter_config.json"), displayPath: "lora_patterns")
        XCTAssertEqual(try config.rank(for: "model.layers.1.self_attn.q_proj"), 3)
        XCTAssertEqual(try config.rank(for: "model.layers.1.self_attn.k_proj"), 5)
        XCTAssertEqual(try config.rank(for: "model.layers.11.self_attn.k_proj"), 4)
        XCTAssertEqual(try config.rank(for: "model.layers.10.mlp.down_proj"), 6)
        XCTAssertEqual(try config.alpha(for: "model.layers.2.mlp.gate_proj"), 12)
        XCTAssertEqual(try config.scale(for: "model.layers.2.mlp.gate_proj"), 12.0 / 4.0)
        let weights = try SafetensorsCheckpoint(url: AdapterFixtures.url("lora_patterns/adapter_model.safetensors"))
        for name in weights.tensorNames where name.hasSuffix(".lora_A.weight") {
            let module = String(name.dropFirst("base_model.model.".count).dropLast(".lora_A.weight".count))
            XCTAssertEqual(weights.info(name)?.shape.first, try config.rank(for: module), module)
        }
        let rs = try PEFTAdapterConfig.load(AdapterFixtures.url("rslora/adapter_config.json"), displayPath: "rslora")
        XCTAssertEqual(try rs.scale(for: "model.layers.0.self_attn.o_proj"), 6 / 2.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(try rs.scale(for: "model.layers.0.self_attn.q_proj"), 6 / 2.0, accuracy: 1e-12)
    }

    // MARK: PATH[:SCALE]

    func testAdapterSpecTakesTheScaleAfterTheLastColon() throws {
        XCTAssertEqual(try AdapterSpec(parsing: "dir"), AdapterSpec(path: "dir", scale: 1))
        XCTAssertEqual(try AdapterSpec(parsing: "dir:0.5"), AdapterSpec(path: "dir", scale: 0.5))
        XCTAssertEqual(try AdapterSpec(parsing: "a:b:0.25"), AdapterSpec(path: "a:b", scale: 0.25))
        XCTAssertEqual(try AdapterSpec(parsing: "a:b"), AdapterSpec(path: "a:b", scale: 1))
        XCTAssertEqual(try AdapterSpec(parsing: "/x/y:-1"), AdapterSpec(path: "/x/y", scale: -1))
        XCTAssertEqual(try AdapterSpec(parsing: "d:1e-1"), AdapterSpec(path: "d", scale: 0.1))
        XCTAssertEqual(try AdapterSpec(parsing: "d:.5"), AdapterSpec(path: "d", scale: 0.5))
    }

    func testBadAdapterSpecsAreRefused() {
        for bad in ["dir:nan", "dir:inf", "dir:-Infinity", ":0.5", "dir:1e999"] {
            let message = AdapterFixtures.errorDescription { _ = try AdapterSpec(parsing: bad) }
            XCTAssertTrue(message.hasPrefix("--adapter \"\(bad)\" is invalid"), message)
        }
    }

    // MARK: --layer-scale

    func testLayerScaleGrammar() throws {
        let scale = try LayerScale(specs: ["ramp:0.2,1.0", "attention=0.5", "const:2", "layers:3-4=10", "embeddings=0"])
        let n = 5
        XCTAssertEqual(scale.factor(for: "model.layers.0.self_attn.q_proj.weight", layerCount: n), 0.2 * 0.5 * 2, accuracy: 1e-12)
        XCTAssertEqual(scale.factor(for: "model.layers.4.mlp.up_proj.weight", layerCount: n), 1.0 * 2 * 10, accuracy: 1e-12)
        XCTAssertEqual(scale.factor(for: "model.layers.2.input_layernorm.weight", layerCount: n), 0.6 * 2, accuracy: 1e-12)
        XCTAssertEqual(scale.factor(for: "model.embed_tokens.weight", layerCount: n), 0)
        XCTAssertEqual(scale.factor(for: "lm_head.weight", layerCount: n), 2)   // ramp leaves it at 1
        let list = try LayerScale(specs: ["list:1,0.5,0.25", "norms=3", "biases=7", "head=4", "mlp=5"])
        XCTAssertEqual(list.factor(for: "model.layers.2.mlp.down_proj.bias", layerCount: 3), 0.25 * 7 * 5)
        XCTAssertEqual(list.factor(for: "model.norm.weight", layerCount: 3), 3)
        XCTAssertEqual(list.factor(for: "lm_head.weight", layerCount: 3), 4)
        XCTAssertNoThrow(try list.validate(layerCount: 3))
        XCTAssertThrowsError(try list.validate(layerCount: 4))
        XCTAssertEqual(try LayerScale(specs: ["layers:2=0"]).factor(for: "model.layers.2.mlp.up_proj.weight", layerCount: 4), 0)
    }

    func testBadLayerScalesAreRefused() {
        for bad in ["ramp:1", "ramp:a,b", "const:nan", "list:", "layers:3-1=2", "layers:2", "wings=2", "attention=", "half", "const:inf"] {
            let message = AdapterFixtures.errorDescription { _ = try LayerScale(specs: [bad]) }
            XCTAssertTrue(message.hasPrefix("--layer-scale \"\(bad)\" is invalid"), message)
        }
    }
}
