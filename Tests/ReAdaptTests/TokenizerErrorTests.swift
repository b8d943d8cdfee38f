import Foundation
import XCTest
@testable import ReAdapt

/// Every user-caused loading problem is a typed error whose one-sentence description names the file.
final class TokenizerErrorTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("readapt-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func write(_ text: String) throws -> URL {
        let url = directory.appendingPathComponent("tokenizer.json")
        try Data(text.utf8).write(to: url)
        return url
    }

    func minimal(model: String = #"{"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}"#,
                 normalizer: String = "null", preTokenizer: String = "null", decoder: String = "null") -> String {
        #"{"version": "1.0", "added_tokens": [], "normalizer": \#(normalizer), "pre_tokenizer": \#(preTokenizer), "post_processor": null, "decoder": \#(decoder), "model": \#(model)}"#
    }

    func expectError(_ json: String, _ check: (TokenizerError) -> Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = try write(json)
        XCTAssertThrowsError(try Tokenizer(tokenizerJSON: url), file: file, line: line) { error in
            guard let e = error as? TokenizerError else { return XCTFail("untyped error \(error)", file: file, line: line) }
            XCTAssertTrue(check(e), "unexpected \(e)", file: file, line: line)
            XCTAssertTrue(e.description.contains(url.path), "description lacks the path: \(e)", file: file, line: line)
            XCTAssertEqual(e.description.filter { $0 == "\n" }.count, 0, file: file, line: line)
        }
    }

    func testMinimalTokenizerWorks() throws {
        let tokenizer = try Tokenizer(tokenizerJSON: try write(minimal()))
        XCTAssertEqual(tokenizer.encode("abab"), [2, 2])
        XCTAssertEqual(tokenizer.decode([2, 0]), "ab a")   // no decoder: tokens joined by spaces
    }

    func testMissingDirectory() {
        let missing = directory.appendingPathComponent("nope")
        XCTAssertThrowsError(try Tokenizer(directory: missing)) { error in
            guard case .unreadableFile(let path, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertTrue(path.hasSuffix("nope/tokenizer.json"))
        }
    }

    func testCorruptAndTruncatedJSON() throws {
        try expectError("{not json", { if case .invalidJSON = $0 { return true }; return false })
        let smol = TokenizerTests.fixtures.appendingPathComponent("smollm2/tokenizer.json")
        let data = try Data(contentsOf: smol)
        try expectError(String(decoding: data.prefix(data.count / 2), as: UTF8.self),
                        { if case .invalidJSON = $0 { return true }; return false })
        try expectError("[1, 2]", { if case .invalidJSON = $0 { return true }; return false })
    }

    func testUnsupportedComponentsAreNamed() throws {
        try expectError(minimal(model: #"{"type": "WordPiece", "vocab": {}}"#),
                        { $0 == .unsupportedComponent(path: $0.pathForTest, kind: "model", type: "WordPiece") })
        try expectError(minimal(normalizer: #"{"type": "BertNormalizer"}"#),
                        { if case .unsupportedComponent(_, "normalizer", "BertNormalizer") = $0 { return true }; return false })
        try expectError(minimal(preTokenizer: #"{"type": "Punctuation"}"#),
                        { if case .unsupportedComponent(_, "pre-tokenizer", "Punctuation") = $0 { return true }; return false })
        try expectError(minimal(decoder: #"{"type": "WordPiece"}"#),
                        { if case .unsupportedComponent(_, "decoder", "WordPiece") = $0 { return true }; return false })
        try expectError(minimal(decoder: #"{"type": "Strip", "content": " ", "start": -1, "stop": 0}"#),
                        { if case .invalidField(_, "decoder.start", _) = $0 { return true }; return false })
    }

    func testInvalidModelContents() throws {
        try expectError(minimal(model: #"{"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}"#),
                        { if case .invalidField(_, "model.merges", _) = $0 { return true }; return false })
        try expectError(minimal(model: #"{"type": "BPE", "vocab": {"a": -3}, "merges": []}"#),
                        { if case .invalidField(_, "model.vocab", _) = $0 { return true }; return false })
        try expectError(minimal(model: #"{"type": "BPE", "vocab": {"a": 2000000000}, "merges": []}"#),
                        { if case .invalidField(_, "model.vocab", _) = $0 { return true }; return false })
        try expectError(minimal(model: #"{"type": "BPE", "merges": []}"#),
                        { if case .missingField(_, "model.vocab") = $0 { return true }; return false })
        try expectError(minimal(model: #"{"type": "BPE", "vocab": {"a": 0}, "merges": ["ab"]}"#),
                        { if case .invalidField(_, "model.merges", _) = $0 { return true }; return false })
        try expectError(minimal(preTokenizer: #"{"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated", "invert": false}"#),
                        { if case .invalidRegex = $0 { return true }; return false })
        try expectError(minimal(preTokenizer: #"{"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways", "invert": false}"#),
                        { if case .invalidField(_, "pre_tokenizer.behavior", _) = $0 { return true }; return false })
    }
}

extension TokenizerError {
    var pathForTest: String {
        switch self {
        case let .unreadableFile(p, _), let .invalidJSON(p, _), let .missingField(p, _), let .invalidField(p, _, _),
             let .unsupportedComponent(p, _, _), let .invalidRegex(p, _, _):
            return p
        }
    }
}
