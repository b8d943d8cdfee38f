import Foundation

/// A parsed JSON document that keeps what general-purpose decoders lose.
///
/// - Numbers stay as their source text, so `2`, `2.0`, `-1` and `1e3` can be told apart and a
///   64-bit offset never passes through a Double; `int`, `nonNegativeInt` and `double` read them.
/// - Object members keep their order and any repeated keys (unless parsing rejects duplicates);
///   `self[key]` returns the last one, as Python's `json` does.
/// - Equality compares numbers by their text (`1.0 != 1`) and objects member by member in order.
///
/// Parse with `JSONValue.parse`; the parser lives in JSONParser.swift.
public enum JSONValue: Equatable, Sendable {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    /// The number exactly as written in the source (it matched JSON's number grammar).
    case number(String)
    case bool(Bool)
    case null

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.array(a), .array(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.bool(a), .bool(b)): return a == b
        case (.null, .null): return true
        default: return false
        }
    }

    /// The value of the last member named `key` when this is an object; nil otherwise.
    /// Members are searched linearly: for large objects build a dictionary from `members`.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.key == key })?.value
    }

    /// The members of an object, in source order.
    public var members: [(key: String, value: JSONValue)]? {
        if case .object(let m) = self { return m }
        return nil
    }

    public var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// A non-negative integer written as one (digits only: no sign, fraction or exponent) that fits in Int.
    public var nonNegativeInt: Int? {
        guard case .number(let text) = self,
              text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        return Int(text)
    }

    /// An integer value: written as an integer that fits in Int, or written with a fraction or
    /// exponent but integral and within ±2^53 (so `2.0` and `1e3` count, as Python's `int(x) == x`).
    public var int: Int? {
        guard case .number(let text) = self else { return nil }
        if let n = Int(text) { return n }
        guard !text.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || ($0 >= 0x30 && $0 <= 0x39) }),
              let d = Double(text), d.rounded() == d, abs(d) <= 9_007_199_254_740_992 else { return nil }
        return Int(d)
    }

    /// The number as the nearest Double (correctly rounded, as Python's `float`); nil for
    /// non-numbers and for magnitudes beyond Double's range, which would become infinite.
    public var double: Double? {
        guard case .number(let text) = self, let d = Double(text), d.isFinite else { return nil }
        return d
    }

    /// A short name for error messages ("an object", "a string", "the number 1.5", ...).
    public var kindDescription: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number(let text): return "the number \(text)"
        case .bool(let b): return "\(b)"
        case .null: return "null"
        }
    }
}

/// Why a byte sequence is not acceptable JSON. The description ("<reason> at byte <offset>") names
/// no file: callers wrap it in their own error that does.
public struct JSONParseError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Byte offset into the parsed buffer where the problem was found.
    public let offset: Int
    public let reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "\(reason) at byte \(offset)" }
}

extension JSONValue {
    /// Appends `string` as a JSON string literal the way serde_json (and so the reference
    /// safetensors writer) does: quote, backslash and control characters escaped, everything
    /// else written as raw UTF-8.
    public static func appendQuoted(_ string: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(0x22)
        for c in string.utf8 {
            switch c {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(c >> 4)], hex[Int(c & 0xF)]])
            default: out.append(c)
            }
        }
        out.append(0x22)
    }
}
