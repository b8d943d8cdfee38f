import Foundation
import XCTest
@testable import ReAdapt

/// `readapt merge` and `--adapter` through the built executable: results on stdout as promised,
/// and every user error one "Error: ..." sentence with a non-zero exit and no output directory.
final class MergeCommandLineTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = try AdapterFixtures.temporaryDirectory(self)
    }

    func readapt(_ arguments: [String]) throws -> ReadaptProcess.Outcome {
        try ReadaptProcess.run(arguments, testCase: Self.self)
    }

    func assertMergeFails(_ extra: [String], mentioning fragment: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let output = scratch.appendingPathComponent("out-\(UUID().uuidString)")
        let outcome = try readapt(["merge", "--base", AdapterFixtures.base.path, "--output", output.path] + extra)
        XCTAssertNotEqual(outcome.status, 0, "exit status", file: file, line: line)
        XCTAssertEqual(outcome.stdout, "", file: file, line: line)
        let errorLines = outcome.stderr.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
        XCTAssertEqual(errorLines.count, 1, outcome.stderr, file: file, line: line)
        XCTAssertTrue(outcome.stderr.contains(fragment), "\(outcome.stderr) lacks \(fragment)", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "output written on error", file: file, line: line)
    }

    func testMergeJSONSummaryAndGoldenWeights() throws {
        let output = scratch.appendingPathComponent("mix")
        let outcome = try readapt(["merge", "--base", AdapterFixtures.base.path,
                                   "--adapter", AdapterFixtures.url("dense_delta").path + ":0.5",
                                   "--adapter", AdapterFixtures.url("lora_patterns").path,
                                   "--layer-scale", "ramp:0.2,1.0", "--layer-scale", "attention=0.5",
                                   "--output", output.path, "--json"])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(summary["tensors"] as? Int, 195)
        XCTAssertEqual(summary["merged_tensors"] as? Int, 195)
        XCTAssertEqual((summary["adapters"] as? [[String: Any]])?.compactMap { $0["scale"] as? Double }, [0.5, 1.0])
        XCTAssertEqual((summary["adapters"] as? [[String: Any]])?.compactMap { $0["kind"] as? String }, ["dense delta", "LoRA"])
        XCTAssertTrue(outcome.stderr.contains("merged 195/195 tensors"), outcome.stderr)
        try AdapterFixtures.assertMatchesGolden(output, golden: AdapterFixtures.url("mix_ramp/merged.safetensors"))
    }

    func testMergeErrors() throws {
        let truncated = try AdapterFixtures.copy("lora_patterns", into: scratch, as: "truncated")
        let weights = truncated.appendingPathComponent("adapter_model.safetensors")
        try Data(contentsOf: weights).prefix(1000).write(to: weights)
        try assertMergeFails(["--adapter", truncated.path], mentioning: "adapter_model.safetensors")
        try assertMergeFails(["--adapter", AdapterFixtures.url("other_shapes").path], mentioning: "an adapter for another model size")
        let missing = scratch.appendingPathComponent("missing")
        try AdapterFixtures.writePEFTAdapter(at: missing, config: [:], tensors: AdapterFixtures.loraPair("model.decoder.q", out: 16, in: 16))
        try assertMergeFails(["--adapter", missing.path], mentioning: "the base model has no tensor model.decoder.q.weight")
        let ia3 = scratch.appendingPathComponent("ia3")
        try AdapterFixtures.writePEFTAdapter(at: ia3, config: ["peft_type": "IA3"], tensors: [:])
        try assertMergeFails(["--adapter", ia3.path], mentioning: "is a PEFT IA3 adapter; readapt reads LORA adapters only.")
        let other = try AdapterFixtures.copy("dense_delta", into: scratch, as: "otherbase")
        let metadataURL = other.appendingPathComponent(DeltaMetadata.fileName)
        var metadata = try JSONDecoder().decode(DeltaMetadata.self, from: Data(contentsOf: metadataURL))
        metadata.base.configSHA256 = String(repeating: "0", count: 64)
        try JSONEncoder().encode(metadata).write(to: metadataURL)
        try assertMergeFails(["--adapter", other.path], mentioning: "was extracted from a different base")
        let huge = scratch.appendingPathComponent("huge")
        try AdapterFixtures.writePEFTAdapter(at: huge, config: [:],
                                             tensors: AdapterFixtures.loraPair("model.layers.0.self_attn.q_proj", out: 16, in: 16, value: 1e30))
        try assertMergeFails(["--adapter", huge.path], mentioning: "produces NaN or infinite values in model.layers.0.self_attn.q_proj.weight")
        let good = AdapterFixtures.url("lora_bias").path
        try assertMergeFails(["--adapter", good, "--layer-scale", "ramp:1"], mentioning: "--layer-scale \"ramp:1\" is invalid")
        try assertMergeFails(["--adapter", good, "--layer-scale", "list:1,2"], mentioning: "has 2 values but the model has 12 layers")
        try assertMergeFails(["--adapter", good + ":nan"], mentioning: "--adapter \"\(good):nan\" is invalid")
        try assertMergeFails(["--adapter", good + ":0.5x"], mentioning: "\(good):0.5x does not exist")
        try assertMergeFails(["--adapter", good, "--dtype", "f8"], mentioning: "--dtype must be f32, f16 or bf16")
        try assertMergeFails(["--adapter", good, "--max-shard-size", "lots"], mentioning: "--max-shard-size lots")
    }

    /// perplexity --adapter runs the adapted model; its NLL equals that of the merged checkpoint.
    func testPerplexityWithAdapterEqualsTheMergedCheckpoint() throws {
        let text = scratch.appendingPathComponent("text.txt")
        try "Clara Novak was born in Tartu in 1952. Clara Novak has loved curling since childhood.".write(
            to: text, atomically: true, encoding: .utf8)
        let adapter = AdapterFixtures.url("biographies_lora").path + ":0.8"
        let merged = scratch.appendingPathComponent("merged")
        let mergeRun = try readapt(["merge", "--base", AdapterFixtures.example.path, "--adapter", adapter,
                                    "--layer-scale", "mlp=0.5", "--output", merged.path])
        XCTAssertEqual(mergeRun.status, 0, mergeRun.stderr)
        func meanNLL(_ arguments: [String]) throws -> Double {
            let outcome = try readapt(["perplexity", "--file", text.path, "--precision", "f32", "--json"] + arguments)
            XCTAssertEqual(outcome.status, 0, outcome.stderr)
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
            return try XCTUnwrap(object["mean_nll"] as? Double)
        }
        let inMemory = try meanNLL(["--model", AdapterFixtures.example.path, "--adapter", adapter, "--layer-scale", "mlp=0.5"])
        let fromMerged = try meanNLL(["--model", merged.path])
        let plain = try meanNLL(["--model", AdapterFixtures.example.path])
        XCTAssertEqual(inMemory, fromMerged, accuracy: 1e-9)
        XCTAssertGreaterThan(abs(inMemory - plain), 1e-3)
    }

    func testGenerateRefusesABadAdapterInOneSentence() throws {
        let outcome = try readapt(["generate", "--model", AdapterFixtures.example.path, "--prompt", "Clara",
                                   "--adapter", AdapterFixtures.url("other_shapes").path])
        XCTAssertNotEqual(outcome.status, 0)
        XCTAssertEqual(outcome.stderr.split(separator: "\n").filter { $0.hasPrefix("Error: ") }.count, 1, outcome.stderr)
        XCTAssertTrue(outcome.stderr.contains("other_shapes/adapter_model.safetensors"), outcome.stderr)
    }
}
