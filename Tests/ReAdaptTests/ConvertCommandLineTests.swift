import Foundation
import XCTest

/// `readapt convert` and `--model FILE.gguf` through the built binary.
extension CommandLineTests {
    func scratchDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("readapt-convert-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testConvertWritesADirectoryThatGeneratesLikeTheGGUF() throws {
        let gguf = try GGUFConvertTests.fixture("tiny.gguf").path
        let expected = try GGUFConvertTests.expected()
        let output = try scratchDirectory().appendingPathComponent("tiny").path
        let converted = try readapt(["convert", "--gguf", gguf, "--output", output, "--dtype", "f32"])
        XCTAssertEqual(converted.status, 0, converted.stderr)
        XCTAssertEqual(converted.stdout, "")
        XCTAssertTrue(converted.stderr.contains("tensor 21/21"), converted.stderr)

        func generate(_ model: String) throws -> [String: Any] {
            let outcome = try readapt(["generate", "--model", model, "--prompt", expected.text, "--max-tokens", "8",
                                       "--precision", "f32", "--json"])
            XCTAssertEqual(outcome.status, 0, outcome.stderr)
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        }
        // transformers' greedy continuation of the GGUF-loaded model (fixtures/convert/expected.json).
        for model in [gguf, output] {
            let result = try generate(model)
            XCTAssertEqual(result["text"] as? String, expected.greedy_text, model)
            XCTAssertEqual(result["tokens"] as? Int, expected.greedy_ids.count, model)
        }
        let tokenized = try readapt(["tokenize", "--model", gguf, "--text", expected.text, "--json"])
        XCTAssertEqual(tokenized.status, 0, tokenized.stderr)
        let ids = try JSONSerialization.jsonObject(with: Data(tokenized.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(ids?["ids"] as? [Int], expected.ids)
        let chat = try readapt(["generate", "--model", gguf, "--chat", "--prompt", expected.text, "--max-tokens", "2",
                                "--precision", "f32"])
        XCTAssertEqual(chat.status, 0, chat.stderr)
    }

    func testConvertUserErrorsEndInOneSentence() throws {
        let directory = try scratchDirectory()
        let gguf = try GGUFConvertTests.fixture("tiny.gguf").path
        let existing = directory.appendingPathComponent("existing")
        try FileManager.default.createDirectory(at: existing, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: existing.appendingPathComponent("keep.txt"))
        try assertFails(["convert", "--gguf", gguf, "--output", existing.path], mentioning: "--force")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: existing.path), ["keep.txt"])

        let output = directory.appendingPathComponent("out").path
        try assertFails(["convert", "--gguf", "/nonexistent/model.gguf", "--output", output],
                        mentioning: "/nonexistent/model.gguf does not exist.")
        try assertFails(["convert", "--gguf", gguf, "--output", output, "--dtype", "q8"], mentioning: "'q8'")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: gguf))
        let truncated = directory.appendingPathComponent("truncated.gguf")
        try bytes.prefix(bytes.count - 100).write(to: truncated)
        try assertFails(["convert", "--gguf", truncated.path, "--output", output], mentioning: "truncated.gguf")
        try assertFails(["generate", "--model", truncated.path, "--prompt", "x"], mentioning: "truncated.gguf")
        XCTAssertFalse(FileManager.default.fileExists(atPath: output))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(),
                       ["existing", "truncated.gguf"])

        let forced = try readapt(["convert", "--gguf", gguf, "--output", existing.path, "--force"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: existing.appendingPathComponent("keep.txt").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: existing.appendingPathComponent("model.safetensors").path))
    }
}
