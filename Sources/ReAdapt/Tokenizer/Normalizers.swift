import Foundation

/// A `tokenizer.json` normalizer: text (UTF-8) in, text out. Offsets are not tracked because
/// ReAdapt only needs ids.
protocol TextNormalizer {
    func normalize(_ text: [UInt8]) -> [UInt8]
}

struct SequenceNormalizer: TextNormalizer {
    let steps: [TextNormalizer]
    func normalize(_ text: [UInt8]) -> [UInt8] { steps.reduce(text) { $1.normalize($0) } }
}

/// Prepends a string to non-empty text (Llama-2's "▁").
struct PrependNormalizer: TextNormalizer {
    let prefix: [UInt8]
    func normalize(_ text: [UInt8]) -> [UInt8] { text.isEmpty ? text : prefix + text }
}

/// Replaces every leftmost non-overlapping match of a literal or regex with `content`.
struct ReplaceNormalizer: TextNormalizer {
    let pattern: SplitPattern
    let content: [UInt8]

    func normalize(_ text: [UInt8]) -> [UInt8] { replaceMatches(of: pattern, in: text, with: content) }
}

func replaceMatches(of pattern: SplitPattern, in text: [UInt8], with content: [UInt8]) -> [UInt8] {
    let matches: [Range<Int>]
    if let literal = pattern as? LiteralPattern {
        matches = LiteralPattern.find(literal.needle, in: text)
    } else {
        matches = pattern.matches(in: ScalarText(text))
    }
    if matches.isEmpty { return text }
    var out = [UInt8]()
    out.reserveCapacity(text.count + matches.count * content.count)
    var previous = 0
    for m in matches {
        out.append(contentsOf: text[previous..<m.lowerBound])
        out.append(contentsOf: content)
        previous = m.upperBound
    }
    out.append(contentsOf: text[previous...])
    return out
}

/// Unicode normalization forms through Foundation.
struct UnicodeFormNormalizer: TextNormalizer {
    enum Form { case nfc, nfd, nfkc, nfkd }
    let form: Form

    func normalize(_ text: [UInt8]) -> [UInt8] {
        if text.allSatisfy({ $0 < 0x80 }) { return text }   // ASCII is invariant under all forms
        let s = String(decoding: text, as: UTF8.self)
        let result: String
        switch form {
        case .nfc: result = s.precomposedStringWithCanonicalMapping
        case .nfd: result = s.decomposedStringWithCanonicalMapping
        case .nfkc: result = s.precomposedStringWithCompatibilityMapping
        case .nfkd: result = s.decomposedStringWithCompatibilityMapping
        }
        return Array(result.utf8)
    }
}

/// Per-scalar full lowercase mapping (Rust's `char::to_lowercase`, no final-sigma context).
struct LowercaseNormalizer: TextNormalizer {
    func normalize(_ text: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(text.count)
        for v in ScalarText(text).scalars {
            if v < 0x80 {
                out.append(v >= 0x41 && v <= 0x5A ? UInt8(v + 0x20) : UInt8(v))
            } else {
                out.append(contentsOf: Unicode.Scalar(v)!.properties.lowercaseMapping.utf8)
            }
        }
        return out
    }
}

/// Removes White_Space scalars from the left and/or right end.
struct StripNormalizer: TextNormalizer {
    let left: Bool
    let right: Bool

    func normalize(_ text: [UInt8]) -> [UInt8] {
        let t = ScalarText(text)
        var start = 0, end = t.count
        if left { while start < end && UnicodeClasses.isWhitespace(t.scalars[start]) { start += 1 } }
        if right { while end > start && UnicodeClasses.isWhitespace(t.scalars[end - 1]) { end -= 1 } }
        return Array(text[t.offsets[start]..<t.offsets[end]])
    }
}

/// Builds a Split/Replace pattern from its JSON form {"String": s} or {"Regex": r}.
func makePattern(_ json: JSONObject, key: String) throws -> SplitPattern {
    let p = try json.object(key)
    if let literal = try p.optionalString("String") {
        return LiteralPattern(needle: Array(literal.utf8))
    }
    if let regex = try p.optionalString("Regex") {
        if let known = KnownPattern.scanner(for: regex) { return known }
        return try ICURegexPattern(pattern: regex, file: json.path)
    }
    throw json.invalid(key, "expected {\"String\": ...} or {\"Regex\": ...}")
}

func makeNormalizer(_ json: JSONObject) throws -> TextNormalizer {
    let type = try json.string("type")
    switch type {
    case "Sequence":
        return SequenceNormalizer(steps: try json.objects("normalizers").map(makeNormalizer))
    case "Prepend":
        return PrependNormalizer(prefix: Array(try json.string("prepend").utf8))
    case "Replace":
        return ReplaceNormalizer(pattern: try makePattern(json, key: "pattern"),
                                 content: Array(try json.string("content").utf8))
    case "NFC": return UnicodeFormNormalizer(form: .nfc)
    case "NFD": return UnicodeFormNormalizer(form: .nfd)
    case "NFKC": return UnicodeFormNormalizer(form: .nfkc)
    case "NFKD": return UnicodeFormNormalizer(form: .nfkd)
    case "Lowercase": return LowercaseNormalizer()
    case "Strip":
        return StripNormalizer(left: try json.bool("strip_left", default: true),
                               right: try json.bool("strip_right", default: true))
    default:
        throw TokenizerError.unsupportedComponent(path: json.path, kind: "normalizer", type: type)
    }
}
