import Foundation
import XCTest
@testable import ReAdapt

/// The shared JSON parser. Expected values for the tricky cases were produced with Python 3's
/// `json` module (`json.loads` / `json.dumps(..., ensure_ascii=False)`); where the parser is
/// deliberately stricter than Python (lone surrogates, NaN, numbers beyond Double) the expected
/// behaviour is serde_json's, checked through safetensors 0.8 (a Rust reader) as noted.
final class JSONTests: XCTestCase {
    func parse(_ text: String, rejectDuplicateKeys: Bool = false, maxDepth: Int = JSONValue.defaultMaxDepth) throws -> JSONValue {
        try JSONValue.parse(Array(text.utf8), rejectDuplicateKeys: rejectDuplicateKeys, maxDepth: maxDepth)
    }

    /// Asserts `text` is refused; with `offset`, also where (the byte offset of the problem).
    func expectFailure(_ text: String, offset: Int? = nil, reason: String? = nil,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try parse(text), "\(text.debugDescription) was accepted", file: file, line: line) { error in
            guard let e = error as? JSONParseError else { return XCTFail("untyped \(error)", file: file, line: line) }
            if let offset { XCTAssertEqual(e.offset, offset, "\(text.debugDescription): \(e)", file: file, line: line) }
            if let reason { XCTAssertTrue(e.reason.contains(reason), "\(text.debugDescription): \(e)", file: file, line: line) }
            XCTAssertTrue(e.description.hasSuffix("at byte \(e.offset)"), e.description, file: file, line: line)
            XCTAssertLessThanOrEqual(e.offset, text.utf8.count, file: file, line: line)
        }
    }

    func testEscapesMatchPython() throws {
        // json.loads(r'"\ud83d\ude00"') == '\U0001f600'; r'"\u00e9\u4e2d\uD834\uDD1E"' == '\xe9\u4e2d\U0001d11e'
        XCTAssertEqual(try parse(#""\ud83d\ude00""#), .string("\u{1F600}"))
        XCTAssertEqual(try parse(#""\u00e9\u4e2d\uD834\uDD1E""#), .string("\u{E9}\u{4E2D}\u{1D11E}"))
        // json.loads(r'"a\/b\"\\\b\f\n\r\t"') == 'a/b"\\\x08\x0c\n\r\t'
        XCTAssertEqual(try parse(#""a\/b\"\\\b\f\n\r\t""#), .string("a/b\"\\\u{08}\u{0C}\n\r\t"))
        XCTAssertEqual(try parse(#""\u0000""#), .string("\u{0}"))
        XCTAssertEqual(try parse("\"Ġhello\""), .string("\u{120}hello"))
        // Raw text before and after an escape is kept.
        XCTAssertEqual(try parse(#""héllo\n wörld""#), .string("héllo\n wörld"))
    }

    func testInvalidEscapesAndSurrogates() {
        // Python's json accepts lone surrogates ('\ud800'), which a Swift String cannot hold;
        // serde_json refuses them ("lone leading surrogate in hex escape" from safetensors 0.8), as do we.
        expectFailure(#""\ud800""#, offset: 1, reason: "unpaired surrogate")
        expectFailure(#""\udc00x""#, offset: 1, reason: "unpaired surrogate")
        expectFailure(#""ab\ud800\u0041""#, offset: 3, reason: "unpaired surrogate")
        expectFailure(#""\ud83d\ude0""#)
        expectFailure(#""\u12""#, reason: "invalid \\u escape")   // json.loads: Invalid \uXXXX escape
        expectFailure(#""\x""#, offset: 1, reason: "invalid escape")
        expectFailure("\"a\u{01}\"", offset: 2, reason: "control character")   // json.loads: Invalid control character
        expectFailure("\"abc", offset: 0, reason: "unterminated")
        expectFailure("\"abc\\", reason: "unterminated")
    }

    func testInvalidUTF8IsRefused() {
        // json.loads(b'"\xc3\x28"') raises UnicodeDecodeError.
        for bytes: [UInt8] in [[0x22, 0xC3, 0x28, 0x22], [0x22, 0x5C, 0x6E, 0xFF, 0x22], [0x5B, 0xFF, 0x5D], [0xEF, 0xBB, 0xBF, 0x7B, 0x7D]] {
            XCTAssertThrowsError(try JSONValue.parse(bytes), "\(bytes)") { XCTAssertTrue($0 is JSONParseError) }
        }
    }

    func testNumbersKeepTextAndConvertLikePython() throws {
        let value = try parse("[-0, 0.5e-3, 1E+2, -12.75, 1e400, 123456789012345678901234567890, 9007199254740993, 2.0, 1e3, 2.5e-324]")
        let items = try XCTUnwrap(value.array)
        XCTAssertEqual(items, ["-0", "0.5e-3", "1E+2", "-12.75", "1e400", "123456789012345678901234567890",
                                         "9007199254740993", "2.0", "1e3", "2.5e-324"].map { JSONValue.number($0) })
        // float(x) in Python: 0.0005 (0x1.0624dd2f1a9fcp-11), 100.0, -12.75, inf, 5e-324.
        XCTAssertEqual(items[1].double?.bitPattern, Double("0x1.0624dd2f1a9fcp-11")?.bitPattern)
        XCTAssertEqual(items[2].double, 100)
        XCTAssertEqual(items[3].double, -12.75)
        XCTAssertNil(items[4].double, "Python gives inf; an infinite value is refused")
        XCTAssertEqual(items[9].double, 5e-324)
        // Integers: json.loads keeps 9007199254740993 exact (no Double detour); 2.0 and 1e3 are integral.
        XCTAssertEqual(items[0].int, 0)
        XCTAssertNil(items[0].nonNegativeInt, "a sign is not allowed")
        XCTAssertEqual(items[6].int, 9_007_199_254_740_993)
        XCTAssertEqual(items[6].nonNegativeInt, 9_007_199_254_740_993)
        XCTAssertNil(items[5].int, "does not fit in Int")
        XCTAssertNil(items[5].nonNegativeInt)
        XCTAssertEqual(items[7].int, 2)
        XCTAssertNil(items[7].nonNegativeInt, "nonNegativeInt needs digits only")
        XCTAssertEqual(items[8].int, 1000)
        XCTAssertNil(items[3].int)
        XCTAssertNil(JSONValue.string("1").int)
        XCTAssertEqual(try parse("18446744073709551615").double, 18446744073709551615)
    }

    func testMalformedDocumentsAreRefused() {
        // Offsets agree with json.loads' "(char N)" for these ASCII inputs.
        expectFailure("[1,]", offset: 3)                 // Expecting value: (char 3)
        expectFailure("[1] x", offset: 4, reason: "after the JSON value")   // Extra data: (char 4)
        expectFailure(#"{"a":1"#, offset: 6)             // Expecting ',' delimiter: (char 6)
        expectFailure("[", offset: 1)                     // Expecting value: (char 1)
        expectFailure("", offset: 0)
        expectFailure("  \n", offset: 3)
        expectFailure("[1 2]", offset: 3)                 // Expecting ',' delimiter: (char 3)
        // json.loads refuses all of these too.
        for text in ["01", "-01", "1.", "-", ".5", "+1", "1e", "1e+", "tru", "nul", "{'a':1}", #"{"a" 1}"#, #"{"a":1,}"#,
                     "{1:2}", "[1,,2]", "\"a\" \"b\""] {
            expectFailure(text)
        }
        // NaN and Infinity are Python extensions that serde_json refuses.
        expectFailure("NaN")
        expectFailure("[Infinity]")
    }

    func testWhitespaceAndOrder() throws {
        // json.loads(' \t\n{"k" : [ ] }\r\n') == {'k': []}
        XCTAssertEqual(try parse(" \t\n{\"k\" : [ ] }\r\n"), .object([(key: "k", value: .array([]))]))
        let value = try parse(#"{"z": true, "a": null, "m": {"x": false}}"#)
        XCTAssertEqual(value.members?.map(\.key), ["z", "a", "m"])
        XCTAssertEqual(value["z"], .bool(true))
        XCTAssertEqual(value["a"]?.isNull, true)
        XCTAssertEqual(value["m"]?["x"]?.bool, false)
        XCTAssertNil(value["nope"])
        XCTAssertNotEqual(try parse("1.0"), try parse("1"), "numbers compare by their text")
        XCTAssertNotEqual(try parse(#"{"a":1,"b":2}"#), try parse(#"{"b":2,"a":1}"#), "objects compare in order")
    }

    func testDuplicateKeys() throws {
        // json.loads('{"a":1,"a":2}') == {'a': 2}; so does '{"a":1,"\u0061":2}'.
        let kept = try parse(#"{"a":1,"a":2}"#)
        XCTAssertEqual(kept.members?.count, 2)
        XCTAssertEqual(kept["a"], .number("2"))
        XCTAssertEqual(try parse(#"{"a":1,"\u0061":2}"#)["a"], .number("2"))
        expectDuplicate(#"{"a":1,"a":2}"#, offset: 7)
        expectDuplicate(#"{"a":1,"\u0061":2}"#, offset: 7)
        expectDuplicate(#"[{"x":{"k":1,"j":2,"k":3}}]"#, offset: 19)
        XCTAssertNoThrow(try parse(#"{"a":{"a":1},"b":{"a":2}}"#, rejectDuplicateKeys: true), "the same key in different objects is fine")
    }

    func expectDuplicate(_ text: String, offset: Int, line: UInt = #line) {
        XCTAssertThrowsError(try parse(text, rejectDuplicateKeys: true), line: line) { error in
            let e = error as? JSONParseError
            XCTAssertEqual(e?.offset, offset, line: line)
            XCTAssertTrue(e?.reason.hasPrefix("duplicate key \"") ?? false, "\(error)", line: line)
        }
    }

    func testDepthLimit() throws {
        // safetensors 0.8 (serde_json) accepts 127 nested arrays/objects and refuses 128.
        func nested(_ n: Int) -> String { String(repeating: "[", count: n) + String(repeating: "]", count: n) }
        XCTAssertNoThrow(try parse(nested(127)))
        expectFailure(nested(128), offset: 127, reason: "nesting deeper than 127")
        XCTAssertNoThrow(try parse(#"{"a":[1]}"#, maxDepth: 2))
        XCTAssertThrowsError(try parse(#"{"a":[{}]}"#, maxDepth: 2))
        // Hostile depth is an error, not a stack overflow.
        expectFailure(String(repeating: "[", count: 100_000), reason: "nesting")
        expectFailure(String(repeating: #"{"a":"#, count: 100_000), reason: "nesting")
    }

    /// Every proper prefix of a document whose top level is an object is invalid JSON.
    func testEveryTruncationIsRefused() throws {
        let document = #"{"vocab": {"a\u00e9\ud83d\ude00": 0, "Ġb": 12}, "merges": ["a b", ["c", "d"]], "x": [-1.5e+3, true, false, null], "s": "q\"\\"}"#
        let bytes = Array(document.utf8)
        XCTAssertNoThrow(try JSONValue.parse(bytes))
        for n in 0..<bytes.count {
            XCTAssertThrowsError(try JSONValue.parse(Array(bytes[..<n])), "prefix of \(n) bytes") { error in
                guard let e = error as? JSONParseError else { return XCTFail("untyped \(error)") }
                XCTAssertLessThanOrEqual(e.offset, n)
            }
        }
    }

    func testAppendQuotedMatchesPythonDumps() throws {
        let text = "q\"b\\s/\u{01}\u{1F}\u{08}\u{0C}\n\r\t\u{7F}é中😀"
        var out: [UInt8] = []
        JSONValue.appendQuoted(text, to: &out)
        // json.dumps(s, ensure_ascii=False), which escapes the same characters as serde_json.
        XCTAssertEqual(String(decoding: out, as: UTF8.self), #""q\"b\\s/\u0001\u001f\b\f\n\r\t\#u{7F}é中😀""#)
        XCTAssertEqual(try JSONValue.parse(out), .string(text))
    }
}
