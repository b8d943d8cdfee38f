import Foundation
import XCTest
@testable import ReAdapt

/// `readapt extract` through the built binary.
extension CommandLineTests {
    func testExtractWritesADeltaCheckpointAndSummarizesItAsJSON() throws {
        let output = try scratchDirectory().appendingPathComponent("delta").path
        let outcome = try readapt(["extract", "--base", ExtractTests.path("untied/base"),
                                   "--instruct", ExtractTests.path("vocab/instruct"), "--output", output,
                                   "--dtype", "bf16", "--max-shard-size", "30KB", "--json"])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(summary["output"] as? String, output)
        XCTAssertEqual(summary["kind"] as? String, "dense")
        XCTAssertEqual(summary["dtype"] as? String, "BF16")
        XCTAssertEqual(summary["tensor_count"] as? Int, 30)
        XCTAssertEqual(Set(summary["carried_row_tensors"] as? [String] ?? []), ["lm_head.weight", "model.embed_tokens.weight"])
        XCTAssertGreaterThan(summary["shards"] as? Int ?? 0, 1)
        XCTAssertTrue(outcome.stderr.contains("3 more vocabulary rows"), outcome.stderr)
        XCTAssertTrue(outcome.stderr.contains("tensor 30/30"), outcome.stderr)
        XCTAssertEqual(try SafetensorsCheckpoint(directory: URL(fileURLWithPath: output)).tensorNames.count, 30)
    }

    func testExtractRefusesBadPairsAndFlagsInOneSentence() throws {
        let scratch = try scratchDirectory()
        let base = ExtractTests.path("untied/base")
        let output = scratch.appendingPathComponent("out").path
        let layers = try ExtractErrorTests.brokenModel(in: scratch, named: "layers", config: ["num_hidden_layers": 2]) { name, t in
            name.contains("layers.2.") ? nil : t
        }
        try assertFails(["extract", "--base", base, "--instruct", layers.path, "--output", output],
                        mentioning: "Base model \(base) and instruct model \(layers.path) differ in num_hidden_layers (3 vs 2)")
        let truncated = try ExtractErrorTests.brokenModel(in: scratch, named: "truncated")
        let file = truncated.appendingPathComponent("model.safetensors")
        try Data(contentsOf: file).prefix(1000).write(to: file)
        try assertFails(["extract", "--base", truncated.path, "--instruct", base, "--output", output],
                        mentioning: "Cannot open the base model \(truncated.path) (model.safetensors:")
        try assertFails(["extract", "--base", base, "--instruct", base, "--output", output, "--include", "linear,mlp"],
                        mentioning: "'mlp' is not a tensor group")
        try assertFails(["extract", "--base", base, "--instruct", base, "--output", output, "--dtype", "f8"],
                        mentioning: "'f8' is not an output dtype")
        try assertFails(["extract", "--base", base, "--instruct", base, "--output", output, "--max-shard-size", "big"],
                        mentioning: "'big' is not a size")
        XCTAssertFalse(FileManager.default.fileExists(atPath: output))
    }

    func testExtractValidatesLoREFlags() throws {
        let base = ExtractTests.path("untied/base")
        let common = ["extract", "--base", base, "--instruct", base, "--output", try scratchDirectory().appendingPathComponent("o").path]
        try assertFails(common + ["--lore", "0"], mentioning: "--lore must be an explained-variance share in (0, 1], not 0.0.")
        try assertFails(common + ["--lore", "1.5"], mentioning: "--lore must be an explained-variance share in (0, 1], not 1.5.")
        try assertFails(common + ["--rank-budget", "0"], mentioning: "--rank-budget must be a parameter share in (0, 1], not 0.0.")
        try assertFails(common + ["--rank-budget", "2"], mentioning: "--rank-budget must be a parameter share in (0, 1], not 2.0.")
        try assertFails(common + ["--lore", "0.5", "--rank-budget", "0.2"], mentioning: "--lore and --rank-budget are alternatives")
        try assertFails(common + ["--lore", "0.5", "--max-rank", "0"], mentioning: "--max-rank must be at least 1, not 0.")
        try assertFails(common + ["--max-rank", "4"], mentioning: "--max-rank only applies with --lore or --rank-budget.")
        try assertFails(common + ["--lore", "0.5", "--svd", "fast"], mentioning: "--svd must be randomized or exact, not 'fast'.")
    }

    func testExtractKeepsAnExistingOutputWithoutForce() throws {
        let scratch = try scratchDirectory()
        let existing = scratch.appendingPathComponent("existing")
        try FileManager.default.createDirectory(at: existing, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: existing.appendingPathComponent("keep.txt"))
        let base = ExtractTests.path("untied/base")
        try assertFails(["extract", "--base", base, "--instruct", ExtractTests.path("untied/instruct"), "--output", existing.path],
                        mentioning: "\(existing.path) already exists")
        XCTAssertTrue(FileManager.default.fileExists(atPath: existing.appendingPathComponent("keep.txt").path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), ["existing"])
    }

    func testExtractLoREThroughTheCommandLine() throws {
        let output = try scratchDirectory().appendingPathComponent("lore").path
        let outcome = try readapt(["extract", "--base", ExtractTests.path("untied/base"), "--instruct",
                                   ExtractTests.path("untied/instruct"), "--output", output, "--rank-budget", "0.1",
                                   "--max-rank", "2", "--json"])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        let report = try XCTUnwrap(json["report"] as? [String: Any])
        let matrices = try XCTUnwrap(report["matrices"] as? [[String: Any]])
        XCTAssertEqual(matrices.count, 21)
        XCTAssertTrue(matrices.allSatisfy { ($0["rank"] as? Int ?? 99) <= 2 })
        XCTAssertLessThanOrEqual(try XCTUnwrap(report["parameters_kept"] as? Int), 2765)   // 10% of 27648
        let inspection = try Inspection(path: output)
        XCTAssertEqual(inspection.kind, .lore)
        // A matrix the budget gives rank 0 has no LoRA module.
        XCTAssertEqual(inspection.modules?.count, matrices.filter { ($0["rank"] as? Int ?? 0) > 0 }.count)
    }
}
