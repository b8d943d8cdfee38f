import Foundation

extension JSONValue {
    /// Nesting limit used when the caller gives none: serde_json's (the reference safetensors
    /// and tokenizers readers use it), which accepts 127 nested arrays/objects and refuses 128.
    public static let defaultMaxDepth = 127

    /// Parses one JSON value filling `bytes` (surrounding whitespace allowed), strictly per
    /// RFC 8259: no comments, trailing commas, NaN/Infinity, leading zeros, invalid UTF-8 or
    /// unpaired surrogate escapes (serde_json refuses those too; Python's `json` accepts them).
    ///
    /// - Parameters:
    ///   - rejectDuplicateKeys: throw when an object repeats a key (otherwise all members are kept
    ///     and lookups see the last), for formats where a repeat would silently shadow an entry.
    ///   - maxDepth: the most arrays/objects that may be nested, so hostile input cannot exhaust
    ///     the stack.
    public static func parse(_ bytes: UnsafeRawBufferPointer, rejectDuplicateKeys: Bool = false,
                             maxDepth: Int = defaultMaxDepth) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes.assumingMemoryBound(to: UInt8.self),
                                rejectDuplicateKeys: rejectDuplicateKeys, maxDepth: maxDepth)
        parser.skipWhitespace()
        let value = try parser.parseValue()
        parser.skipWhitespace()
        if parser.index != bytes.count { throw parser.fail("unexpected text after the JSON value") }
        return value
    }

    /// Parses `bytes` (e.g. `[UInt8]` or `Data`); see `parse(_: UnsafeRawBufferPointer, ...)`.
    public static func parse(_ bytes: some ContiguousBytes, rejectDuplicateKeys: Bool = false,
                             maxDepth: Int = defaultMaxDepth) throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0, rejectDuplicateKeys: rejectDuplicateKeys, maxDepth: maxDepth) }
    }
}

/// A recursive-descent parser over a byte buffer; recursion is bounded by `maxDepth`.
private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let rejectDuplicateKeys: Bool
    let maxDepth: Int
    var index = 0
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>, rejectDuplicateKeys: Bool, maxDepth: Int) {
        self.bytes = bytes
        self.rejectDuplicateKeys = rejectDuplicateKeys
        self.maxDepth = maxDepth
    }

    func fail(_ reason: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(offset: offset ?? index, reason: reason)
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            let c = bytes[index]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            index += 1
        }
    }

    mutating func parseValue() throws -> JSONValue {
        guard index < bytes.count else { throw fail("unexpected end of JSON") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        case let c where c < 0x80: throw fail("unexpected character '\(Unicode.Scalar(c).escaped(asASCII: true))'")
        default: throw fail("unexpected byte 0x\(String(bytes[index], radix: 16))")
        }
    }

    mutating func expectWord(_ word: StaticString) throws {
        let start = index
        let p = word.utf8Start
        for k in 0..<word.utf8CodeUnitCount {
            guard index < bytes.count else { throw fail("unexpected end of JSON") }
            guard bytes[index] == p[k] else { throw fail("invalid literal", at: start) }
            index += 1
        }
    }

    mutating func enterContainer() throws {
        guard depth < maxDepth else { throw fail("nesting deeper than \(maxDepth) levels") }
        depth += 1
        index += 1
    }

    mutating func parseObject() throws -> JSONValue {
        try enterContainer()
        defer { depth -= 1 }
        var members: [(key: String, value: JSONValue)] = []
        var seen = Set<String>()
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of JSON") }
            guard bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let keyStart = index
            let key = try parseString()
            if rejectDuplicateKeys, !seen.insert(key).inserted {
                throw fail("duplicate key \"\(key)\"", at: keyStart)
            }
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of JSON") }
            guard bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            members.append((key, try parseValue()))
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of JSON") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
            throw fail("expected ',' or '}'")
        }
    }

    mutating func parseArray() throws -> JSONValue {
        try enterContainer()
        defer { depth -= 1 }
        var items: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try parseValue())
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of JSON") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
            throw fail("expected ',' or ']'")
        }
    }

    /// Checks the number grammar `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?` and returns its text.
    mutating func parseNumber() throws -> String {
        let start = index
        func digits(_ parser: inout JSONParser) -> Int {
            let s = parser.index
            while parser.index < parser.bytes.count, parser.bytes[parser.index] &- 0x30 < 10 { parser.index += 1 }
            return parser.index - s
        }
        func expectDigits(_ parser: inout JSONParser) throws {
            guard parser.index < parser.bytes.count else { throw parser.fail("unexpected end of JSON") }
            guard digits(&parser) > 0 else { throw parser.fail("invalid number", at: start) }
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        let intStart = index
        try expectDigits(&self)
        if index - intStart > 1, bytes[intStart] == UInt8(ascii: "0") { throw fail("number with a leading zero", at: start) }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            try expectDigits(&self)
        }
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            try expectDigits(&self)
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
    }

    /// Parses a string literal; the bytes must be valid UTF-8. Strings without escapes (nearly all
    /// of them in tokenizer files) become a String straight from the buffer.
    mutating func parseString() throws -> String {
        let start = index
        index += 1
        while index < bytes.count {
            let c = bytes[index]
            if c == UInt8(ascii: "\"") {
                let raw = UnsafeBufferPointer(rebasing: bytes[(start + 1)..<index])
                index += 1
                guard let s = String(validating: raw, as: UTF8.self) else { throw fail("invalid UTF-8 in the string", at: start) }
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw fail("unescaped control character in a string") }
            index += 1
        }
        var out = [UInt8](UnsafeBufferPointer(rebasing: bytes[(start + 1)..<index]))
        while true {
            guard index < bytes.count else { throw fail("unterminated string", at: start) }
            let c = bytes[index]
            if c == UInt8(ascii: "\"") {
                index += 1
                guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in the string", at: start) }
                return s
            }
            if c < 0x20 { throw fail("unescaped control character in a string") }
            index += 1
            if c != UInt8(ascii: "\\") { out.append(c); continue }
            try parseEscape(into: &out)
        }
    }

    /// Decodes the escape after a backslash (at `index`) and appends its UTF-8 bytes.
    mutating func parseEscape(into out: inout [UInt8]) throws {
        guard index < bytes.count else { throw fail("unterminated string") }
        let e = bytes[index]
        index += 1
        switch e {
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5C)
        case UInt8(ascii: "/"): out.append(0x2F)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            let escapeStart = index - 2
            var scalar = try parseHex4()
            if scalar >= 0xD800, scalar < 0xDC00 {
                guard index + 2 <= bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                    throw fail("unpaired surrogate \\u\(String(scalar, radix: 16))", at: escapeStart)
                }
                index += 2
                let low = try parseHex4()
                guard low >= 0xDC00, low < 0xE000 else {
                    throw fail("unpaired surrogate \\u\(String(scalar, radix: 16))", at: escapeStart)
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if scalar >= 0xDC00, scalar < 0xE000 {
                throw fail("unpaired surrogate \\u\(String(scalar, radix: 16))", at: escapeStart)
            }
            appendUTF8(scalar, to: &out)
        default:
            throw fail("invalid escape '\\\(Unicode.Scalar(e).escaped(asASCII: true))'", at: index - 2)
        }
    }

    mutating func parseHex4() throws -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard index < bytes.count else { throw fail("unexpected end of JSON") }
            let c = bytes[index]
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: throw fail("invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// Appends a scalar value (never a surrogate: the caller has paired or rejected those).
    func appendUTF8(_ v: UInt32, to out: inout [UInt8]) {
        switch v {
        case ..<0x80: out.append(UInt8(v))
        case ..<0x800: out.append(contentsOf: [UInt8(0xC0 | v >> 6), UInt8(0x80 | v & 0x3F)])
        case ..<0x10000:
            out.append(contentsOf: [UInt8(0xE0 | v >> 12), UInt8(0x80 | v >> 6 & 0x3F), UInt8(0x80 | v & 0x3F)])
        default:
            out.append(contentsOf: [UInt8(0xF0 | v >> 18), UInt8(0x80 | v >> 12 & 0x3F),
                                    UInt8(0x80 | v >> 6 & 0x3F), UInt8(0x80 | v & 0x3F)])
        }
    }
}
