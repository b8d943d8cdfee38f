import Foundation
import XCTest
@testable import ReAdapt

/// Merged weights against PEFT's `merge_and_unload()` and numpy goldens
/// (scripts/fixtures/make_adapter_fixtures.py), within 1e-5 for every tensor of the checkpoint.
final class AdapterGoldenTests: XCTestCase {
    func assertMerge(_ specs: [String], golden: String, layerScale: [String] = [],
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let output = try AdapterFixtures.temporaryDirectory(self).appendingPathComponent("merged")
        try AdapterFixtures.merge(specs, layerScale: layerScale, output: output)
        try AdapterFixtures.assertMatchesGolden(output, golden: AdapterFixtures.url(golden).appendingPathComponent("merged.safetensors"),
                                                file: file, line: line)
    }

    /// rank_pattern/alpha_pattern regex keys, including the first-key-wins and layer 1 vs 11 traps.
    func testLoRAWithRankAndAlphaPatternsMatchesPEFT() throws {
        try assertMerge(["lora_patterns"], golden: "lora_patterns")
    }

    func testRSLoRAMatchesPEFT() throws {
        try assertMerge(["rslora"], golden: "rslora")
    }

    /// lora_embedding_A/B, lm_head in modules_to_save, bias="all" (every bias saved whole).
    func testEmbeddingLoRAModulesToSaveAndTrainedBiasesMatchPEFT() throws {
        try assertMerge(["embeddings"], golden: "embeddings")
    }

    func testLoRABiasMatchesPEFT() throws {
        try assertMerge(["lora_bias"], golden: "lora_bias")
    }

    /// DoRA on every linear layer and on the embeddings (norm per embedding dimension).
    func testDoRAMatchesPEFT() throws {
        try assertMerge(["dora"], golden: "dora")
    }

    func testFanInFanOutMatchesNumpy() throws {
        try assertMerge(["fan_in_fan_out"], golden: "fan_in_fan_out")
    }

    func testDenseDeltaAtHalfScaleMatchesNumpy() throws {
        try assertMerge(["dense_delta:0.5"], golden: "dense_delta")
    }

    /// Instruct vocabulary 4 rows larger: shared rows scaled, extra rows carried whole.
    func testDenseDeltaCarriesExtraVocabularyRowsWhole() throws {
        let output = try AdapterFixtures.temporaryDirectory(self).appendingPathComponent("merged")
        let summary = try AdapterFixtures.merge(["dense_vocab:0.5"], output: output)
        XCTAssertEqual(summary.vocabSize, 36)
        try AdapterFixtures.assertMatchesGolden(output, golden: AdapterFixtures.url("dense_vocab/merged.safetensors"))
        let config = try ModelConfig.load(output.appendingPathComponent("config.json"))
        XCTAssertEqual(config.vocabSize, 36)
    }

    func testLoREAdapterWithCompanionMatchesNumpy() throws {
        try assertMerge(["lore:0.5"], golden: "lore")
    }

    /// Two adapters, every delta against the original base, with a ramp and a group filter.
    func testTwoAdaptersWithLayerScaleRampMatchNumpy() throws {
        try assertMerge(["dense_delta:0.5", "lora_patterns:1.0"], golden: "mix_ramp",
                        layerScale: ["ramp:0.2,1.0", "attention=0.5"])
        // The order of adapters does not matter.
        try assertMerge(["lora_patterns", "dense_delta:0.5"], golden: "mix_ramp",
                        layerScale: ["attention=0.5", "ramp:0.2,1.0"])
    }

    /// The adapter stack alone (no files written) gives the golden too: merge and in-memory use it.
    func testAdapterStackMergedTensorMatchesPEFTDoRA() throws {
        let base = try SafetensorsCheckpoint(directory: AdapterFixtures.base)
        let golden = try SafetensorsCheckpoint(url: AdapterFixtures.url("dora/merged.safetensors"))
        let stack = try AdapterStack(specs: [AdapterSpec(path: AdapterFixtures.url("dora").path)])
        try stack.validate(against: base, baseConfigFile: AdapterFixtures.base.appendingPathComponent("config.json"))
        for name in ["model.layers.3.self_attn.k_proj.weight", "model.embed_tokens.weight", "model.layers.0.mlp.down_proj.weight"] {
            let merged = try stack.merged(name, base: base.load(name))
            let expected = try golden.load(name)
            XCTAssertLessThanOrEqual(maxAbsDiff(merged.scalars[...], expected.scalars[...]), 1e-5, name)
            XCTAssertGreaterThan(maxAbsDiff(merged.scalars[...], try base.load(name).scalars[...]), 1e-3, "\(name) unchanged")
        }
    }

    /// Scale 0 reproduces the base bit for bit; scale 1 on a DoRA adapter is PEFT's merge, so the
    /// delta is linear in the scale: base + 0.5·(golden − base).
    func testScaleIsLinearInTheDelta() throws {
        let base = try SafetensorsCheckpoint(directory: AdapterFixtures.base)
        let golden = try SafetensorsCheckpoint(url: AdapterFixtures.url("dora/merged.safetensors"))
        let name = "model.layers.7.mlp.up_proj.weight"
        for scale in [0.0, 0.5, -1.0] {
            let stack = try AdapterStack(specs: [AdapterSpec(path: AdapterFixtures.url("dora").path, scale: scale)])
            try stack.validate(against: base, baseConfigFile: nil)
            let merged = try stack.merged(name, base: base.load(name))
            let b = try base.load(name).scalars, g = try golden.load(name).scalars
            let expected = zip(b, g).map { $0 + Float(scale) * ($1 - $0) }
            XCTAssertLessThanOrEqual(maxAbsDiff(merged.scalars[...], expected[...]), 1e-5, "scale \(scale)")
            if scale == 0 { XCTAssertEqual(merged.scalars, b) }
        }
    }
}
