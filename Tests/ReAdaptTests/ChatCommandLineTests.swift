import Foundation
import XCTest

/// `readapt generate --chat` and `readapt chat` through the built binary, against transformers'
/// greedy replies for the example model with a ChatML-style template (Fixtures/chat/reference.json).
final class ChatCommandLineTests: XCTestCase {
    var reference: ChatReference!
    var directory: URL!

    override func setUpWithError() throws {
        reference = try ChatReference.load()
        directory = try reference.makeModelDirectory(example: CommandLineTests.example)
    }

    override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// Runs readapt with `input` on stdin.
    func readapt(_ arguments: [String], input: String = "") throws -> CommandLineTests.Outcome {
        try ReadaptProcess.run(arguments, input: input, testCase: Self.self)
    }

    func testGenerateChatMatchesTransformers() throws {
        let turn = reference.turns[0]
        let outcome = try readapt(["generate", "--model", directory.path, "--chat",
                                   "--system", turn.messages[0].content, "--prompt", turn.messages[1].content,
                                   "--max-tokens", String(reference.max_new_tokens), "--precision", "f32", "--json"])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(object?["text"] as? String, turn.output_text)
        XCTAssertEqual(object?["tokens"] as? Int, turn.output_ids.count)
        XCTAssertEqual(object?["stop_reason"] as? String, "endOfSequence")
    }

    /// Two turns, /reset, the first turn again, then EOF: stdout holds exactly the three replies.
    func testChatOverStandardInput() throws {
        let first = reference.turns[0], second = reference.turns[1]
        let input = [first.messages[1].content, second.messages.last!.content, "/reset", first.messages[1].content]
            .joined(separator: "\n") + "\n"
        let outcome = try readapt(["chat", "--model", directory.path, "--system", first.messages[0].content,
                                   "--max-tokens", String(reference.max_new_tokens), "--precision", "f32"],
                                  input: input)
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertEqual(outcome.stdout, [first.output_text, second.output_text, first.output_text]
            .map { $0 + "\n" }.joined())
        XCTAssertEqual(outcome.stderr.components(separatedBy: "time to first token").count - 1, 3, outcome.stderr)
        XCTAssertTrue(outcome.stderr.contains("History cleared."), outcome.stderr)
    }

    /// /system replaces the system prompt and clears the history, so the reply is that of a fresh
    /// conversation with the new prompt (the reference's one, set here by command instead of flag).
    func testSystemCommand() throws {
        let first = reference.turns[0]
        let input = "/system \(first.messages[0].content)\n\(first.messages[1].content)\n"
        let outcome = try readapt(["chat", "--model", directory.path, "--system", "Something else.",
                                   "--max-tokens", String(reference.max_new_tokens), "--precision", "f32"],
                                  input: input)
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertEqual(outcome.stdout, first.output_text + "\n")
    }

    func testModelWithoutTemplateIsNamed() throws {
        for arguments in [["generate", "--model", CommandLineTests.example, "--chat", "--prompt", "x"],
                          ["chat", "--model", CommandLineTests.example]] {
            let outcome = try readapt(arguments)
            XCTAssertNotEqual(outcome.status, 0)
            XCTAssertEqual(outcome.stdout, "")
            let errors = outcome.stderr.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
            XCTAssertEqual(errors, ["Error: \(CommandLineTests.example) has no chat template (no chat_template.jinja and no 'chat_template' in tokenizer_config.json)."])
        }
    }
}
