import Foundation
import XCTest
@testable import ReAdapt

/// The checkpoint `merge` writes: config, tokenizer files, dtype, shards, and what transformers
/// made of it (scripts/check_merge_with_transformers.py, run by hand, results pinned here).
final class MergeCheckpointTests: XCTestCase {
    func jsonObject(_ url: URL) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    func testConfigAndTokenizerFilesComeFromTheBaseByDefault() throws {
        let output = try AdapterFixtures.temporaryDirectory(self).appendingPathComponent("merged")
        let summary = try AdapterFixtures.merge(["lora_patterns"], output: output)
        let files = try FileManager.default.contentsOfDirectory(atPath: output.path).sorted()
        XCTAssertEqual(files, ["chat_template.jinja", "config.json", "generation_config.json", "model.safetensors", "tokenizer_config.json"])
        // Nothing to change: config.json is the base's, byte for byte.
        XCTAssertEqual(try Data(contentsOf: output.appendingPathComponent("config.json")),
                       try Data(contentsOf: AdapterFixtures.base.appendingPathComponent("config.json")))
        XCTAssertEqual(summary.tokenizerFrom, AdapterFixtures.base.path)
        XCTAssertEqual(summary.tensors, 195)
        XCTAssertEqual(summary.mergedTensors, 84)   // 7 projections × 12 layers
        XCTAssertEqual(summary.adapters.map(\.kind), ["LoRA"])
    }

    func testTokenizerFilesComeFromTheDeltasInstructModelOrTokenizerFrom() throws {
        let scratch = try AdapterFixtures.temporaryDirectory(self)
        let instruct = scratch.appendingPathComponent("instruct")
        try FileManager.default.createDirectory(at: instruct, withIntermediateDirectories: true)
        try Data(#"{"marker": "instruct"}"#.utf8).write(to: instruct.appendingPathComponent("tokenizer_config.json"))
        try Data(#"{"eos_token_id": [2, 9]}"#.utf8).write(to: instruct.appendingPathComponent("generation_config.json"))
        let delta = try AdapterFixtures.copy("dense_delta", into: scratch)
        let metadataURL = delta.appendingPathComponent(DeltaMetadata.fileName)
        var metadata = try JSONDecoder().decode(DeltaMetadata.self, from: Data(contentsOf: metadataURL))
        metadata.instruct.path = instruct.path
        try JSONEncoder().encode(metadata).write(to: metadataURL)

        let first = scratch.appendingPathComponent("first")
        try AdapterFixtures.merge([delta.path + ":0.5"], output: first)
        XCTAssertEqual(try jsonObject(first.appendingPathComponent("tokenizer_config.json"))["marker"] as? String, "instruct")
        XCTAssertEqual(try jsonObject(first.appendingPathComponent("generation_config.json"))["eos_token_id"] as? [Int], [2, 9])
        XCTAssertFalse(FileManager.default.fileExists(atPath: first.appendingPathComponent("chat_template.jinja").path))

        let second = scratch.appendingPathComponent("second")
        try AdapterFixtures.merge([delta.path + ":0.5"], output: second, options: MergeOptions(tokenizerFrom: AdapterFixtures.base))
        XCTAssertEqual(try jsonObject(second.appendingPathComponent("tokenizer_config.json"))["marker"] as? String, "base")
    }

    func testOutputDTypeAndConfigDType() throws {
        let output = try AdapterFixtures.temporaryDirectory(self).appendingPathComponent("bf16")
        try AdapterFixtures.merge(["lora_bias"], output: output, options: MergeOptions(outputDType: .bf16))
        let config = try jsonObject(output.appendingPathComponent("config.json"))
        XCTAssertEqual(config["dtype"] as? String, "bfloat16")
        XCTAssertEqual(config["vocab_size"] as? Int, 32)
        let merged = try SafetensorsCheckpoint(directory: output)
        let golden = try SafetensorsCheckpoint(url: AdapterFixtures.url("lora_bias/merged.safetensors"))
        for name in golden.tensorNames {
            XCTAssertEqual(merged.info(name)?.dtype, .bf16, name)
            // One rounding of the F32 merge: round-to-nearest-even of PEFT's value, except where
            // PEFT's last-ulp differences straddle a rounding boundary (a BF16 ulp at most).
            let a = try merged.load(name).scalars, e = try golden.load(name).scalars
            for (x, y) in zip(a, e) {
                XCTAssertLessThanOrEqual(abs(x - bf16Rounded(y)), abs(y) * 0.0079 + 1e-30, name)
            }
        }
        let unchanged = "model.layers.5.mlp.gate_proj.weight"
        XCTAssertEqual(try merged.load(unchanged).scalars, try golden.load(unchanged).scalars.map(bf16Rounded))
    }

    func testShardedOutputHasAnIndexAndTheSameWeights() throws {
        let output = try AdapterFixtures.temporaryDirectory(self).appendingPathComponent("sharded")
        let summary = try AdapterFixtures.merge(["dora"], output: output, options: MergeOptions(maxShardSize: 40_000))
        XCTAssertEqual(summary.shards.count, 4)
        XCTAssertTrue(FileManager.default.fileExists(atPath: output.appendingPathComponent("model.safetensors.index.json").path))
        try AdapterFixtures.assertMatchesGolden(output, golden: AdapterFixtures.url("dora/merged.safetensors"))
    }

    /// scripts/check_merge_with_transformers.py loaded every output with transformers.
    func testTransformersLoadedTheMergedCheckpoints() throws {
        let results = try jsonObject(AdapterFixtures.url("transformers_check.json"))
        XCTAssertEqual(Set(results.keys), ["lora_patterns", "dora", "embeddings", "dense_vocab", "lore", "mix_ramp",
                                           "lora_patterns_bf16", "dora_sharded"])
        for (label, value) in results {
            let result = try XCTUnwrap(value as? [String: Any])
            XCTAssertEqual(result["loaded"] as? Bool, true, label)
            let weights = try XCTUnwrap(result["max_weight_difference"] as? Double)
            XCTAssertLessThanOrEqual(weights, label.hasSuffix("bf16") ? 1e-2 : 1e-5, label)
        }
        XCTAssertEqual((results["dense_vocab"] as? [String: Any])?["vocab_size"] as? Int, 36)
        XCTAssertEqual((results["dora_sharded"] as? [String: Any])?["shards"] as? [String],
                       (1...4).map { "model-0000\($0)-of-00004.safetensors" })
    }
}
