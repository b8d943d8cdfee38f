import Foundation
import XCTest

/// Runs the built `readapt` executable: successful jobs print what the README promises, and
/// every user error ends in one sentence on stderr and a non-zero exit.
final class CommandLineTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let example = repository.appendingPathComponent("Examples/tiny-biographies").path

    typealias Outcome = ReadaptProcess.Outcome

    /// `swift test` builds every product into the folder that holds the test bundle.
    func readapt(_ arguments: [String]) throws -> Outcome {
        try ReadaptProcess.run(arguments, testCase: Self.self)
    }

    /// A failed run: non-zero status, nothing on stdout, and an error line containing `fragment`.
    func assertFails(_ arguments: [String], mentioning fragment: String,
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let outcome = try readapt(arguments)
        XCTAssertNotEqual(outcome.status, 0, "exit status", file: file, line: line)
        XCTAssertEqual(outcome.stdout, "", file: file, line: line)
        let errorLines = outcome.stderr.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
        XCTAssertEqual(errorLines.count, 1, outcome.stderr, file: file, line: line)
        XCTAssertTrue(outcome.stderr.contains(fragment), "\(outcome.stderr) lacks \(fragment)", file: file, line: line)
    }

    func testGenerateJSONMatchesTransformersGreedyText() throws {
        let outcome = try readapt(["generate", "--model", Self.example, "--prompt", "Clara Novak was born in",
                                   "--max-tokens", "24", "--precision", "f32", "--json"])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
        // Greedy text from transformers (Tests/ReAdaptTests/Fixtures/example/reference.json).
        XCTAssertEqual(object?["text"] as? String,
                       " Tartu in 1952. Clara Novak has loved curling since childhood. Clara Novak works as")
        XCTAssertEqual(object?["tokens"] as? Int, 24)
        XCTAssertNotNil(object?["prefill_tokens_per_second"] as? Double)
        XCTAssertNotNil(object?["decode_tokens_per_second"] as? Double)
    }

    func testPerplexityJSONHasTheDocumentedKeys() throws {
        let text = FileManager.default.temporaryDirectory.appendingPathComponent("readapt-ppl-\(getpid()).txt")
        try "Ines Berg was born in Ghent in 1967. Ines Berg plays judo every weekend.".write(
            to: text, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: text) }
        let outcome = try readapt(["perplexity", "--model", Self.example, "--file", text.path, "--json"])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(Set(object?.keys ?? [:].keys), ["tokens", "mean_nll", "perplexity", "tokens_per_second"])
        let nll = try XCTUnwrap(object?["mean_nll"] as? Double)
        let ppl = try XCTUnwrap(object?["perplexity"] as? Double)
        XCTAssertEqual(ppl, exp(nll), accuracy: 1e-9 * ppl)
    }

    func testTokenizeJSON() throws {
        let outcome = try readapt(["tokenize", "--model", Self.example, "--text", "Clara Novak was born in", "--json"])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertEqual(outcome.stdout, "{\"ids\": [35, 493, 417, 277, 278, 261]}\n")
    }

    func testUserErrorsEndInOneSentence() throws {
        let missing = "/nonexistent/readapt-model"
        try assertFails(["generate", "--model", missing, "--prompt", "x"], mentioning: missing)
        try assertFails(["perplexity", "--model", Self.example, "--file", "/nonexistent/text.txt"],
                        mentioning: "/nonexistent/text.txt")
        try assertFails(["generate", "--model", Self.example, "--prompt", "x", "--top-p", "2"],
                        mentioning: "--top-p")
        try assertFails(["generate", "--model", Self.example, "--prompt", "x", "--temperature", "-1"],
                        mentioning: "--temperature")
        try assertFails(["generate", "--model", Self.example, "--prompt", "x", "--precision", "f8"],
                        mentioning: "f8")
        try assertFails(["tokenize", "--model", missing, "--text", "x"], mentioning: missing)
    }

    func testTruncatedCheckpointIsNamed() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("readapt-trunc-\(getpid())")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in ["config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
            try FileManager.default.copyItem(atPath: Self.example + "/" + name,
                                             toPath: directory.appendingPathComponent(name).path)
        }
        let weights = try Data(contentsOf: URL(fileURLWithPath: Self.example + "/model.safetensors"))
        try weights.prefix(weights.count / 2).write(to: directory.appendingPathComponent("model.safetensors"))
        try assertFails(["generate", "--model", directory.path, "--prompt", "x"], mentioning: "model.safetensors")
    }
}
