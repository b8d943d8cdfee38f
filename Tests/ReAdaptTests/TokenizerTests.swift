import Foundation
import XCTest
@testable import ReAdapt

/// Ids and decoded text pinned against the `tokenizers` library (fixtures from
/// scripts/fixtures/make_tokenizer_fixtures.py). Ids must match exactly.
final class TokenizerTests: XCTestCase {
    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
        .appendingPathComponent("tokenizers")

    struct Case: Decodable {
        let text: String
        let with_special: [Int]
        let without_special: [Int]
        let decoded: String
        let decoded_skip_special: String
    }

    static func load(_ name: String) throws -> (Tokenizer, [Case]) {
        let dir = fixtures.appendingPathComponent(name)
        let tokenizer = try Tokenizer(directory: dir)
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: dir.appendingPathComponent("expected.json")))
        return (tokenizer, cases)
    }

    func checkFixture(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (tokenizer, cases) = try Self.load(name)
        Self.check(tokenizer, cases, name, file: file, line: line)
    }

    /// Ids with and without special tokens, and both decodes, exactly as the fixture has them.
    static func check(_ tokenizer: Tokenizer, _ cases: [Case], _ name: String,
                      file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertGreaterThan(cases.count, 30, file: file, line: line)
        for c in cases {
            let shown = c.text.debugDescription.prefix(80)
            XCTAssertEqual(tokenizer.encode(c.text, addSpecialTokens: true), c.with_special,
                           "\(name) ids with special tokens for \(shown)", file: file, line: line)
            XCTAssertEqual(tokenizer.encode(c.text, addSpecialTokens: false), c.without_special,
                           "\(name) ids without special tokens for \(shown)", file: file, line: line)
            // Decoded text is compared scalar by scalar (String == would accept canonical equivalents).
            XCTAssertEqual(Array(tokenizer.decode(c.with_special).unicodeScalars), Array(c.decoded.unicodeScalars),
                           "\(name) decode for \(shown)", file: file, line: line)
            XCTAssertEqual(Array(tokenizer.decode(c.with_special, skipSpecialTokens: true).unicodeScalars),
                           Array(c.decoded_skip_special.unicodeScalars),
                           "\(name) decode skipping special tokens for \(shown)", file: file, line: line)
        }
    }

    func testGPT2StyleByteLevel() throws { try checkFixture("gpt2") }
    func testLlama3StyleSplitAndIgnoreMerges() throws { try checkFixture("llama3") }
    func testQwen2StyleWithNFC() throws { try checkFixture("qwen2") }
    func testLlama2StyleSentencePieceByteFallback() throws { try checkFixture("llama2") }
    func testMistralStyleMetaspace() throws { try checkFixture("mistral") }
    func testGemmaStyleSplitMergedWithPrevious() throws { try checkFixture("gemma") }
    func testLessCommonComponents() throws { try checkFixture("misc") }
    func testSentencePieceWithFusedUnknown() throws { try checkFixture("spm_unk") }
    func testClassicBPEWithSubwordPrefixAndSuffix() throws { try checkFixture("subword") }
    func testRealSmolLM2Tokenizer() throws { try checkFixture("smollm2") }

    /// Random strings stressing whitespace, contractions, digits, marks and added tokens give the
    /// same ids as tokenizers for every fixture tokenizer.
    func testRandomStringsMatchTokenizers() throws {
        struct RandomCases: Decodable { let texts: [String]; let ids: [String: [[Int]]] }
        let url = Self.fixtures.appendingPathComponent("random_cases.json")
        let random = try JSONDecoder().decode(RandomCases.self, from: Data(contentsOf: url))
        XCTAssertEqual(random.ids.count, 10)
        for (name, expected) in random.ids.sorted(by: { $0.key < $1.key }) {
            let tokenizer = try Tokenizer(directory: Self.fixtures.appendingPathComponent(name))
            var failures = 0
            for (text, ids) in zip(random.texts, expected) where tokenizer.encode(text, addSpecialTokens: false) != ids {
                failures += 1
                if failures <= 3 { XCTFail("\(name): \(text.debugDescription) → \(tokenizer.encode(text, addSpecialTokens: false)), expected \(ids)") }
            }
            XCTAssertEqual(failures, 0, "\(name): \(failures) of \(random.texts.count) random strings differ")
        }
    }

    /// Random id sequences (partial characters, stray byte tokens, specials) decode as in tokenizers.
    func testRandomIDsDecodeLikeTokenizers() throws {
        struct Decoded: Decodable { let ids: [Int]; let text: String; let text_skip_special: String }
        struct RandomCases: Decodable { let decode: [String: [Decoded]] }
        let url = Self.fixtures.appendingPathComponent("random_cases.json")
        let random = try JSONDecoder().decode(RandomCases.self, from: Data(contentsOf: url))
        XCTAssertEqual(random.decode.count, 10)
        for (name, cases) in random.decode.sorted(by: { $0.key < $1.key }) {
            let tokenizer = try Tokenizer(directory: Self.fixtures.appendingPathComponent(name))
            for c in cases {
                XCTAssertEqual(Array(tokenizer.decode(c.ids).unicodeScalars), Array(c.text.unicodeScalars), "\(name) \(c.ids)")
                XCTAssertEqual(Array(tokenizer.decode(c.ids, skipSpecialTokens: true).unicodeScalars),
                               Array(c.text_skip_special.unicodeScalars), "\(name) \(c.ids) skipping specials")
            }
        }
    }

    /// `\s`, `\p{L}`, `\p{N}` agree with Oniguruma and `\w` with Rust's regex crate on every code point.
    func testCharacterClassesMatchOniguruma() throws {
        let url = Self.fixtures.appendingPathComponent("oniguruma_classes.json")
        let ranges = try JSONDecoder().decode([String: [[UInt32]]].self, from: Data(contentsOf: url))
        for (name, predicate) in [("s", UnicodeClasses.isWhitespace), ("L", UnicodeClasses.isLetter),
                                  ("N", UnicodeClasses.isNumber), ("w_rust", UnicodeClasses.isWordCharacter)] as [(String, (UInt32) -> Bool)] {
            var expected = [Bool](repeating: false, count: 0x110000)
            for r in ranges[name]! { for v in r[0]...r[1] { expected[Int(v)] = true } }
            var mismatches: [String] = []
            for v in UInt32(0)..<0x110000 where !(0xD800...0xDFFF).contains(v) {
                if predicate(v) != expected[Int(v)] { mismatches.append(String(v, radix: 16)) }
            }
            XCTAssertEqual(mismatches.count, 0, "\\\(name) differs at \(mismatches.prefix(10))")
            XCTAssertGreaterThan(expected.filter { $0 }.count, 5)
        }
    }

    /// Split pre-tokenizers (every behaviour, inverted or not, and the three known regexes run by
    /// the hand-written scanners) cut text exactly as tokenizers' `pre_tokenize_str`.
    func testSplitPreTokenizerPieces() throws {
        let url = Self.fixtures.appendingPathComponent("split_cases.json")
        let cases = try XCTUnwrap(JSONValue.parse(Data(contentsOf: url)).array)
        XCTAssertGreaterThan(cases.count, 100)
        for c in cases {
            let json = JSONObject(try XCTUnwrap(c["pre_tokenizer"]?.members), path: "split_cases.json", field: "")
            let pre = try makePreTokenizer(json)
            let text = try XCTUnwrap(c["text"]?.string)
            var pieces: [Piece] = []
            pre.split(Piece(bytes: Array(text.utf8), atTextStart: true), into: &pieces)
            let got = pieces.map { String(decoding: $0.mapped().bytes, as: UTF8.self).unicodeScalars.map(\.value) }
            let expected = try XCTUnwrap(c["pieces"]?.array).map { try XCTUnwrap($0.string).unicodeScalars.map(\.value) }
            XCTAssertEqual(got, expected, "\(json.members) on \(text.debugDescription.prefix(60))")
        }
    }

    /// The general regex path (ICU) agrees with the hand-written scanners on the known patterns.
    func testICUFallbackAgreesWithScanners() throws {
        let (_, cases) = try Self.load("gpt2")
        for pattern in [KnownPattern.gpt2, KnownPattern.llama3, KnownPattern.qwen2] {
            let icu = try ICURegexPattern(pattern: pattern, file: "test")
            let scanner = KnownPattern.scanner(for: pattern)!
            for c in cases {
                let text = ScalarText(Array(c.text.utf8))
                XCTAssertEqual(icu.matches(in: text), scanner.matches(in: text), "\(pattern) on \(c.text.debugDescription.prefix(60))")
            }
        }
    }

    /// Streaming pieces concatenate to the full decode, and never contain a partial character.
    func testStreamingDetokenizerMatchesFullDecode() throws {
        for name in ["gpt2", "llama3", "qwen2", "llama2", "mistral", "gemma", "spm_unk", "misc", "subword", "smollm2"] {
            let (tokenizer, cases) = try Self.load(name)
            for c in cases {
              for (ids, skip) in [(c.with_special, false), (c.with_special, true), (c.without_special, false)] {
                let full = tokenizer.decode(ids, skipSpecialTokens: skip)
                if full.unicodeScalars.contains("\u{FFFD}") { continue }
                var stream = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: skip)
                var text = ""
                for id in ids {
                    let piece = stream.append(id)
                    XCTAssertFalse(piece.unicodeScalars.contains("\u{FFFD}"), "\(name): partial character emitted")
                    text += piece
                }
                text += stream.finish()
                XCTAssertEqual(Array(text.unicodeScalars), Array(full.unicodeScalars), "\(name) stream of \(c.text.debugDescription.prefix(60))")
              }
            }
        }
    }

    /// Concurrent encodes (sharing the BPE cache) give the same ids as serial ones.
    func testConcurrentEncodingIsConsistent() throws {
        let (tokenizer, cases) = try Self.load("smollm2")
        let texts = cases.map(\.text)
        var results = [[Int]](repeating: [], count: texts.count * 4)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: results.count) { i in
            let ids = tokenizer.encode(texts[i % texts.count])
            lock.lock(); results[i] = ids; lock.unlock()
        }
        for (i, ids) in results.enumerated() { XCTAssertEqual(ids, cases[i % texts.count].with_special) }
    }

    func testEncodeBatchKeepsOrder() throws {
        let (tokenizer, cases) = try Self.load("llama3")
        XCTAssertEqual(tokenizer.encodeBatch(cases.map(\.text)), cases.map(\.with_special))
        XCTAssertEqual(tokenizer.encodeBatch(cases.map(\.text), addSpecialTokens: false), cases.map(\.without_special))
    }

    func testVocabularyAndSpecialTokens() throws {
        let (smol, _) = try Self.load("smollm2")
        XCTAssertEqual(smol.vocabularySize, 49152)
        XCTAssertEqual(smol.bosTokenID, 1)      // <|im_start|> in tokenizer_config.json
        XCTAssertEqual(smol.eosTokenID, 2)      // <|im_end|>
        XCTAssertEqual(smol.padTokenID, 2)
        XCTAssertEqual(smol.unkTokenID, 0)
        XCTAssertEqual(smol.id(forToken: "<|im_start|>"), 1)
        XCTAssertEqual(smol.token(forID: 2), "<|im_end|>")
        let hello = try XCTUnwrap(smol.id(forToken: "Ġhello"))
        XCTAssertEqual(smol.token(forID: hello), "Ġhello")
        XCTAssertNil(smol.token(forID: 49152))
        XCTAssertNil(smol.id(forToken: "no such token at all"))
        XCTAssertTrue(smol.isSpecialToken(0))
        XCTAssertFalse(smol.isSpecialToken(hello))

        let (llama2, _) = try Self.load("llama2")
        XCTAssertEqual(llama2.unkTokenID, 0)
        XCTAssertEqual(llama2.id(forToken: "<0x0A>"), 3 + 0x0A)
    }
}
