import Foundation
import XCTest
@testable import ReAdapt

/// Bad data files give one-sentence errors naming the file and line; BatchOrder is deterministic,
/// a permutation per epoch, and resumes exactly from its encoded position.
final class TrainingDataErrorTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("readapt-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func file(_ name: String, _ text: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    func readError(_ files: [URL]) -> TrainingDataError? {
        do { _ = try TrainingDocuments.read(files: files); return nil } catch { return error as? TrainingDataError }
    }

    func testJSONLErrorsNameFileAndLine() throws {
        let bad = try file("bad.jsonl", "{\"text\": \"ok\"}\n\n{\"text\": \"oops\"\n")
        let error = try XCTUnwrap(readError([bad]))
        guard case .badJSON(let f, 3, _) = error else { return XCTFail("\(error)") }
        XCTAssertEqual(f, bad.path)
        XCTAssertTrue(error.description.hasPrefix("\(bad.path) line 3 is not valid JSON"), error.description)

        let missing = try file("missing.jsonl", "{\"body\": \"x\"}\n")
        XCTAssertEqual(readError([missing]), .missingField(file: missing.path, line: 1, reason: "has neither a \"text\" nor a \"messages\" field"))
        XCTAssertEqual(readError([missing])?.description, "\(missing.path) line 1 has neither a \"text\" nor a \"messages\" field.")

        let number = try file("number.jsonl", "{\"text\": 5}\n")
        guard case .missingField(_, 1, let reason)? = readError([number]) else { return XCTFail() }
        XCTAssertTrue(reason.contains("not a string"))

        let notObject = try file("array.jsonl", "[1, 2]\n")
        guard case .missingField(_, 1, _)? = readError([notObject]) else { return XCTFail() }

        let badMessage = try file("msg.jsonl", "{\"messages\": [{\"role\": \"user\"}]}\n")
        guard case .missingField(_, 1, let r2)? = readError([badMessage]) else { return XCTFail() }
        XCTAssertTrue(r2.contains("message 0"), r2)

        let noAssistant = try file("noasst.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n")
        XCTAssertEqual(readError([noAssistant]), .noAssistantMessage(file: noAssistant.path, line: 1))
    }

    func testEmptyMissingAndMixedInputs() throws {
        XCTAssertEqual(readError([]), .noFiles)
        let blank = try file("blank.txt", " \n\t\n")
        XCTAssertEqual(readError([blank]), .empty(file: blank.path))
        let blankLines = try file("blank.jsonl", "\n   \n")
        XCTAssertEqual(readError([blankLines]), .empty(file: blankLines.path))
        let absent = directory.appendingPathComponent("absent.md")
        XCTAssertEqual(readError([absent]), .unreadable(file: absent.path, reason: "it does not exist"))
        XCTAssertEqual(readError([absent])?.description, "Cannot read training data file \(absent.path): it does not exist.")

        let chat = try file("chat.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}]}\n")
        let text = try file("doc.md", "# Title\n")
        XCTAssertEqual(readError([chat, text]), .mixedObjectives(file: text.path, line: 1))
        let mixed = try file("mixed.jsonl", "{\"text\": \"a\"}\n{\"messages\": [{\"role\": \"assistant\", \"content\": \"b\"}]}\n")
        XCTAssertEqual(readError([mixed]), .mixedObjectives(file: mixed.path, line: 2))
    }

    func testCRLFAndPlainFilesRead() throws {
        let crlf = try file("crlf.jsonl", "{\"text\": \"a\"}\r\n{\"text\": \"b\"}\r\n")
        let md = try file("notes.md", "line one\r\nline two\n")
        XCTAssertEqual(try TrainingDocuments.read(files: [crlf, md]), .text(["a", "b", "line one\r\nline two\n"]))
    }

    func testPackingErrors() throws {
        let tokenizer = try TrainingDataTests.tokenizer()
        XCTAssertThrowsError(try TrainingDataset.packText(["hi"], tokenizer: tokenizer, eosTokenID: 2, sequenceLength: 64)) {
            XCTAssertEqual($0 as? TrainingDataError, .tooFewTokens(tokens: 2, sequenceLength: 64))
        }
        XCTAssertThrowsError(try TrainingDataset.packText(["hi"], tokenizer: tokenizer, eosTokenID: 2, sequenceLength: 1)) {
            XCTAssertEqual($0 as? TrainingDataError, .badSequenceLength(1))
        }
        // A template that rewrites earlier turns once later ones exist breaks the prefix rule.
        let rewriting = try ChatTemplate(source: "{% for m in messages %}{{ m.role }}{{ messages|length }}: {{ m.content }}\n{% endfor %}")
        let conversation = TrainingConversation(messages: [ChatMessage(role: "user", content: "a"),
                                                           ChatMessage(role: "assistant", content: "b")], file: "c.jsonl", line: 7)
        XCTAssertThrowsError(try TrainingDataset.maskChats([conversation], template: rewriting, tokenizer: tokenizer,
                                                           padTokenID: 2, sequenceLength: 8)) {
            XCTAssertEqual($0 as? TrainingDataError, .assistantSpanNotAPrefix(file: "c.jsonl", line: 7))
        }
        let raising = try ChatTemplate(source: "{{ raise_exception('roles must alternate') }}")
        XCTAssertThrowsError(try TrainingDataset.maskChats([conversation], template: raising, tokenizer: tokenizer,
                                                           padTokenID: 2, sequenceLength: 8)) {
            guard case .template("c.jsonl", 7, let reason)? = $0 as? TrainingDataError else { return XCTFail("\($0)") }
            XCTAssertTrue(reason.contains("roles must alternate"), reason)
        }
    }

    func testBatchOrderIsASeededPermutationPerEpoch() throws {
        var order = try BatchOrder(sequenceCount: 10, batchSize: 3, seed: 42)
        XCTAssertEqual(order.batchesPerEpoch, 3)
        var epoch0: [Int] = []
        for _ in 0..<3 { epoch0 += order.next() }
        XCTAssertEqual(Set(epoch0).count, 9, "no sequence repeats within an epoch")
        XCTAssertEqual(epoch0, Array(BatchOrder.permutation(count: 10, seed: 42, epoch: 0).prefix(9)))
        XCTAssertNotEqual(epoch0, Array(0..<9), "the order is shuffled")
        let next = order.next()
        XCTAssertEqual(order.epoch, 1)
        XCTAssertEqual(next, Array(BatchOrder.permutation(count: 10, seed: 42, epoch: 1).prefix(3)))
        XCTAssertNotEqual(BatchOrder.permutation(count: 10, seed: 42, epoch: 1), BatchOrder.permutation(count: 10, seed: 42, epoch: 0))
        XCTAssertNotEqual(BatchOrder.permutation(count: 10, seed: 43, epoch: 0), BatchOrder.permutation(count: 10, seed: 42, epoch: 0))
        XCTAssertEqual(BatchOrder.permutation(count: 1000, seed: 7, epoch: 3).sorted(), Array(0..<1000))
        XCTAssertThrowsError(try BatchOrder(sequenceCount: 2, batchSize: 3, seed: 0)) {
            XCTAssertEqual($0 as? TrainingDataError, .badBatchSize(batchSize: 3, sequences: 2))
        }
    }

    func testBatchOrderResumesExactly() throws {
        var uninterrupted = try BatchOrder(sequenceCount: 17, batchSize: 4, seed: 2024)
        var reference: [[Int]] = []
        for _ in 0..<20 { reference.append(uninterrupted.next()) }

        var first = try BatchOrder(sequenceCount: 17, batchSize: 4, seed: 2024)
        var resumed: [[Int]] = []
        for _ in 0..<9 { resumed.append(first.next()) }
        let saved = try JSONEncoder().encode(first)
        var second = try JSONDecoder().decode(BatchOrder.self, from: saved)
        XCTAssertEqual(second, first)
        for _ in 9..<20 { resumed.append(second.next()) }
        XCTAssertEqual(resumed, reference)
    }
}
