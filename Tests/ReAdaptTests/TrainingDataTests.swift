import Foundation
import XCTest
@testable import ReAdapt

/// Packed text and assistant-masked chat sequences against transformers 5.23 with the SmolLM2
/// tokenizer and chat template (scripts/fixtures/make_data_fixtures.py). Exact equality: token ids.
final class TrainingDataTests: XCTestCase {
    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    static let data = fixtures.appendingPathComponent("data")

    static func expected() throws -> JSONValue {
        try JSONValue.parse(Data(contentsOf: data.appendingPathComponent("expected.json")))
    }
    static func tokenizer() throws -> Tokenizer {
        try Tokenizer(directory: fixtures.appendingPathComponent("tokenizers/smollm2"))
    }
    static func template() throws -> ChatTemplate {
        let url = fixtures.appendingPathComponent("chat_templates/smollm2-135m-instruct.jinja")
        return try ChatTemplate(source: String(contentsOf: url, encoding: .utf8))
    }
    static func ints(_ value: JSONValue?) -> [Int] { (value?.array ?? []).flatMap { row in (row.array ?? []).compactMap(\.int) } }

    func testPackedTextMatchesTransformers() throws {
        let expected = try Self.expected()["text"]!
        let files = expected["files"]!.array!.map { Self.data.appendingPathComponent($0.string!) }
        guard case .text(let texts) = try TrainingDocuments.read(files: files) else { return XCTFail("expected text documents") }
        let tokenizer = try Self.tokenizer()
        XCTAssertEqual(tokenizer.eosTokenID, expected["eos_token_id"]!.int)
        let dataset = try TrainingDataset.packText(texts, tokenizer: tokenizer, eosTokenID: tokenizer.eosTokenID!,
                                                   sequenceLength: expected["sequence_length"]!.int!)
        XCTAssertEqual(dataset.inputIDs, Self.ints(expected["input_ids"]))
        XCTAssertEqual(dataset.labels, dataset.inputIDs)
        XCTAssertEqual(dataset.count, expected["sequences"]!.int)
        let report = dataset.report
        XCTAssertEqual(report.objective, "text")
        XCTAssertEqual(report.documents, expected["documents"]!.int)
        XCTAssertEqual(report.tokens, expected["tokens"]!.int)
        XCTAssertEqual(report.sequences, expected["sequences"]!.int)
        XCTAssertEqual(report.tokensDropped, expected["tokens_dropped"]!.int)
        XCTAssertEqual(report.trainedTokens, dataset.inputIDs.count)
        XCTAssertGreaterThan(report.tokensDropped, 0, "the fixture should exercise dropping the last partial sequence")
    }

    func testChatMaskingMatchesTransformers() throws {
        let expected = try Self.expected()["chat"]!
        let file = Self.data.appendingPathComponent(expected["file"]!.string!)
        guard case .chat(let conversations) = try TrainingDocuments.read(files: [file]) else { return XCTFail("expected chat") }
        XCTAssertEqual(conversations.map(\.line), [1, 2, 3])
        let dataset = try TrainingDataset.maskChats(conversations, template: try Self.template(), tokenizer: try Self.tokenizer(),
                                                    padTokenID: expected["pad_token_id"]!.int!,
                                                    sequenceLength: expected["sequence_length"]!.int!)
        XCTAssertEqual(dataset.inputIDs, Self.ints(expected["input_ids"]))
        XCTAssertEqual(dataset.labels, Self.ints(expected["labels"]))
        let report = dataset.report
        XCTAssertEqual(report.objective, "chat")
        XCTAssertEqual(report.documents, expected["conversations"]!.int)
        XCTAssertEqual(report.sequences, expected["conversations"]!.int)
        XCTAssertEqual(report.tokens, expected["tokens"]!.int)
        XCTAssertEqual(report.truncatedSequences, expected["truncated"]!.int)
        XCTAssertEqual(report.trainedTokens, dataset.labels.filter { $0 != -100 }.count)
        XCTAssertGreaterThan(report.truncatedSequences, 0)
    }

    /// The trained span of a one-turn conversation decodes to the reply and its end marker only.
    func testChatMaskKeepsOnlyTheAssistantReply() throws {
        let tokenizer = try Self.tokenizer()
        let conversation = TrainingConversation(messages: [ChatMessage(role: "user", content: "Hi there"),
                                                           ChatMessage(role: "assistant", content: "Hello!")],
                                                file: "inline", line: 1)
        let (ids, labels) = try TrainingDataset.maskedTokens(conversation, template: try Self.template(), tokenizer: tokenizer)
        let trained = zip(ids, labels).filter { $0.1 != -100 }.map(\.0)
        XCTAssertEqual(tokenizer.decode(trained), "Hello!<|im_end|>\n")
        XCTAssertTrue(tokenizer.decode(ids).hasPrefix("<|im_start|>system\n"))
    }

    func testBatchFetchesRowsInOrder() throws {
        let tokenizer = try Self.tokenizer()
        let dataset = try TrainingDataset.packText(["one two three four five six seven eight nine ten"],
                                                   tokenizer: tokenizer, eosTokenID: 2, sequenceLength: 3)
        let (ids, labels) = dataset.batch([2, 0])
        XCTAssertEqual(ids, Array(dataset.inputIDs[6..<9]) + Array(dataset.inputIDs[0..<3]))
        XCTAssertEqual(labels, ids)
    }

    /// `load(files:bundle:)` with a model directory: text packed with the tokenizer's EOS; chat data
    /// with a model that has no chat template is refused with the template loader's error.
    func testLoadThroughAModelBundle() throws {
        let bundle = try ModelBundle(url: ExampleModelTests.directory)
        let files = [Self.data.appendingPathComponent("notes.txt"), Self.data.appendingPathComponent("docs.jsonl")]
        let dataset = try TrainingDataset.load(files: files, bundle: bundle, sequenceLength: 8)
        guard case .text(let texts) = try TrainingDocuments.read(files: files) else { return XCTFail() }
        let eos = try XCTUnwrap(bundle.tokenizer.eosTokenID)
        XCTAssertEqual(dataset, try TrainingDataset.packText(texts, tokenizer: bundle.tokenizer, eosTokenID: eos, sequenceLength: 8))
        XCTAssertEqual(dataset.report.documents, 4)
        XCTAssertEqual(dataset.report.tokens, texts.map { bundle.tokenizer.encode($0).count + 1 }.reduce(0, +))
        XCTAssertThrowsError(try TrainingDataset.load(files: [Self.data.appendingPathComponent("chat.jsonl")], bundle: bundle,
                                                      sequenceLength: 8)) {
            XCTAssertTrue($0 is ChatTemplateError, "\($0)")
        }
    }
}
