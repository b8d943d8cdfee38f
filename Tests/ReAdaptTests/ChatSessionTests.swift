import Foundation
import XCTest
@testable import ReAdapt

/// The reference conversation of scripts/fixtures/make_chat_fixtures.py: Examples/tiny-biographies
/// with a small ChatML-style template, prompt ids from transformers' apply_chat_template and greedy
/// output from transformers' generate (F32).
struct ChatReference: Decodable {
    struct Message: Decodable { var role: String; var content: String }
    struct Turn: Decodable {
        var messages: [Message]
        var rendered: String
        var prompt_ids: [Int]
        var output_ids: [Int]
        var output_text: String
    }
    var chat_template: String
    var max_new_tokens: Int
    var turns: [Turn]

    static func load() throws -> ChatReference {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
            .appendingPathComponent("chat/reference.json")
        return try JSONDecoder().decode(ChatReference.self, from: Data(contentsOf: url))
    }

    /// A temporary copy of the example model with the reference template in tokenizer_config.json.
    func makeModelDirectory(example: String) throws -> URL {
        let manager = FileManager.default
        let directory = manager.temporaryDirectory.appendingPathComponent("readapt-chat-\(getpid())-\(UUID().uuidString)")
        try manager.createDirectory(at: directory, withIntermediateDirectories: true)
        for name in try manager.contentsOfDirectory(atPath: example) {
            try manager.copyItem(atPath: example + "/" + name, toPath: directory.appendingPathComponent(name).path)
        }
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        var config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
        config["chat_template"] = chat_template
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        return directory
    }
}

final class ChatSessionTests: XCTestCase {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/tiny-biographies").path

    var reference: ChatReference!
    var directory: URL!

    override func setUpWithError() throws {
        reference = try ChatReference.load()
        directory = try reference.makeModelDirectory(example: Self.example)
    }

    override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    func makeChat() throws -> ChatSession {
        let model = try LanguageModel.load(directory: directory, storage: .f32)
        return ChatSession(model: model, tokenizer: try Tokenizer(directory: directory),
                           template: try ChatTemplate(directory: directory),
                           eosTokenIDs: try LanguageModel.eosTokenIDs(directory: directory, spec: model.spec),
                           systemPrompt: reference.turns[0].messages[0].content)
    }

    /// Two greedy turns give transformers' prompt ids and replies exactly; the second reuses the cache.
    func testTwoTurnsMatchTransformers() throws {
        let chat = try makeChat()
        var reused: [Int] = []
        for turn in reference.turns {
            let userText = try XCTUnwrap(turn.messages.last?.content)
            // History rendering equals ChatTemplate's output (and transformers') for the same messages.
            let messages = chat.messages(adding: userText)
            XCTAssertEqual(messages.map(\.role), turn.messages.map(\.role))
            XCTAssertEqual(messages.map(\.content), turn.messages.map(\.content))
            XCTAssertEqual(try chat.template.render(messages, addGenerationPrompt: true), turn.rendered)
            let reply = try chat.respond(to: userText, maxTokens: reference.max_new_tokens)
            XCTAssertEqual(reply.promptTokens, turn.prompt_ids)
            XCTAssertEqual(reply.generation.tokens, turn.output_ids)
            XCTAssertEqual(reply.text, turn.output_text)
            reused.append(reply.reusedTokens)
        }
        XCTAssertEqual(reused[0], 0)
        XCTAssertGreaterThan(reused[1], reference.turns[0].prompt_ids.count)
        XCTAssertEqual(chat.history.count, 4)
        XCTAssertEqual(chat.history.last, ChatMessage(role: "assistant", content: reference.turns[1].output_text))
    }

    /// Prefilling only the new part of a prompt on top of the cache gives a fresh run's logits.
    func testPrefixReuseGivesFreshRunLogits() throws {
        let chat = try makeChat()
        _ = try chat.respond(to: reference.turns[0].messages.last!.content, maxTokens: reference.max_new_tokens)
        let prompt = reference.turns[1].prompt_ids
        let reused = try chat.prefill(prompt)
        XCTAssertGreaterThan(reused, 0)
        XCTAssertEqual(chat.session.position, prompt.count)
        let reusedLogits = chat.session.withLogits { Array($0) }
        let fresh = try chat.model.makeSession().forward(prompt)
        XCTAssertEqual(reusedLogits.count, fresh.count)
        let maxDiff = zip(reusedLogits, fresh).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(maxDiff, 1e-4)
        XCTAssertEqual(reusedLogits.firstIndex(of: reusedLogits.max()!), fresh.firstIndex(of: fresh.max()!))
        // The same prompt again reruns only its last token.
        XCTAssertEqual(try chat.prefill(prompt), prompt.count - 1)
        let again = chat.session.withLogits { Array($0) }
        XCTAssertLessThanOrEqual(zip(again, fresh).map { abs($0 - $1) }.max() ?? .infinity, 1e-4)
    }

    /// /reset and a new system prompt clear the history; after a reset the first turn repeats exactly.
    func testResetAndSystemPrompt() throws {
        let chat = try makeChat()
        let first = reference.turns[0]
        _ = try chat.respond(to: first.messages.last!.content, maxTokens: reference.max_new_tokens)
        chat.reset()
        XCTAssertEqual(chat.history, [])
        XCTAssertEqual(chat.systemPrompt, first.messages[0].content)
        let again = try chat.respond(to: first.messages.last!.content, maxTokens: reference.max_new_tokens)
        XCTAssertEqual(again.generation.tokens, first.output_ids)
        XCTAssertEqual(again.reusedTokens, first.prompt_ids.count - 1)
        chat.systemPrompt = nil
        XCTAssertEqual(chat.history, [])
        XCTAssertEqual(chat.messages(adding: "hi"), [ChatMessage(role: "user", content: "hi")])
    }
}
