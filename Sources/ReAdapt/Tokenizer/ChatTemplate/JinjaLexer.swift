import Foundation

/// An error from reading or running a chat template. `raised` carries the message a template
/// passed to `raise_exception`, exactly as transformers' `TemplateError` would.
public enum JinjaError: Error, CustomStringConvertible, Equatable {
    case syntax(String, line: Int)
    case unsupported(String, line: Int)
    case runtime(String, line: Int)
    case raised(String)

    public var description: String {
        switch self {
        case let .syntax(m, line): return "Chat template syntax error\(Self.at(line)): \(m)."
        case let .unsupported(c, line): return "Chat template uses \(c)\(Self.at(line)), which this interpreter does not support."
        case let .runtime(m, line): return "Chat template failed\(Self.at(line)): \(m)."
        case let .raised(m): return m
        }
    }

    /// " on line N", or nothing when the line is not known (0).
    private static func at(_ line: Int) -> String { line > 0 ? " on line \(line)" : "" }
}

/// The template split into literal text and tags, with Jinja's whitespace rules already applied:
/// `-` markers, and transformers' `trim_blocks=True` / `lstrip_blocks=True`.
enum TemplateSegment: Equatable {
    case text(String)
    case output([Token], line: Int)
    case statement([Token], line: Int)
}

struct Token: Equatable {
    enum Kind: Equatable { case name, string, int, float, op }
    let kind: Kind
    let text: String
}

enum JinjaLexer {
    /// Splits the template into segments. Works on an array of Characters so positions are cheap.
    static func segments(_ source: String) throws -> [TemplateSegment] {
        // Jinja reads every newline sequence as "\n" and, with keep_trailing_newline=False,
        // drops one newline at the very end of the template.
        var normalized = source.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        if normalized.hasSuffix("\n") { normalized.removeLast() }
        let chars = Array(normalized)
        var result: [TemplateSegment] = []
        var pendingText: [Character] = []
        var i = 0
        var line = 1
        var stripNextLeading = false
        func flushText() {
            if !pendingText.isEmpty { result.append(.text(String(pendingText))) }
            pendingText = []
        }
        while i < chars.count {
            let c = chars[i]
            if c == "{", i + 1 < chars.count, "{%#".contains(chars[i + 1]) {
                let kind = chars[i + 1]
                let tagLine = line
                var j = i + 2
                let leftMarker: Character? = j < chars.count && (chars[j] == "-" || chars[j] == "+") ? chars[j] : nil
                if leftMarker != nil { j += 1 }
                // Whitespace before the tag.
                if leftMarker == "-" {
                    while let last = pendingText.last, last.isWhitespace { pendingText.removeLast() }
                } else if kind != "{" && leftMarker != "+" {
                    // lstrip_blocks: drop spaces/tabs between the line start and a block or comment tag.
                    var k = pendingText.count
                    while k > 0, pendingText[k - 1] == " " || pendingText[k - 1] == "\t" { k -= 1 }
                    let atLineStart = k > 0 ? pendingText[k - 1] == "\n"
                        : (i - pendingText.count == 0 || chars[i - pendingText.count - 1] == "\n")
                    if atLineStart { pendingText.removeSubrange(k...) }
                }
                flushText()
                let close: Character = kind == "{" ? "}" : kind
                // Find the closing delimiter, skipping string literals inside expressions.
                var body: [Character] = []
                var quote: Character? = nil
                var closed = false
                var rightMarker: Character? = nil
                while j < chars.count {
                    let d = chars[j]
                    if d == "\n" { line += 1 }
                    if let q = quote {
                        body.append(d)
                        if d == "\\", j + 1 < chars.count { body.append(chars[j + 1]); j += 2; continue }
                        if d == q { quote = nil }
                        j += 1; continue
                    }
                    if kind != "#" && (d == "'" || d == "\"") { quote = d; body.append(d); j += 1; continue }
                    if (d == "-" || d == "+"), j + 2 < chars.count, chars[j + 1] == close, chars[j + 2] == "}" {
                        rightMarker = d; j += 3; closed = true; break
                    }
                    if d == close, j + 1 < chars.count, chars[j + 1] == "}" { j += 2; closed = true; break }
                    body.append(d); j += 1
                }
                guard closed else {
                    throw JinjaError.syntax("a tag opened with '{\(kind)' is never closed", line: tagLine)
                }
                i = j
                switch kind {
                case "{": result.append(.output(try tokens(String(body), line: tagLine), line: tagLine))
                case "%": result.append(.statement(try tokens(String(body), line: tagLine), line: tagLine))
                default: break
                }
                stripNextLeading = rightMarker == "-"
                if !stripNextLeading && kind != "{" && rightMarker != "+" && i < chars.count {
                    // trim_blocks: drop the first newline after a block or comment tag.
                    if chars[i] == "\n" { i += 1; line += 1 }
                }
                continue
            }
            if stripNextLeading {
                if c.isWhitespace { if c == "\n" { line += 1 }; i += 1; continue }
                stripNextLeading = false
            }
            if c == "\n" { line += 1 }
            pendingText.append(c)
            i += 1
        }
        flushText()
        return result
    }

    /// Splits the inside of a tag into names, literals and operators.
    static func tokens(_ text: String, line: Int) throws -> [Token] {
        let s = Array(text.unicodeScalars)
        var out: [Token] = []
        var i = 0
        let twoCharOps: Set<String> = ["==", "!=", "<=", ">=", "//", "**"]
        while i < s.count {
            let c = s[i]
            if c.properties.isWhitespace { i += 1; continue }
            if c == "_" || c.properties.isAlphabetic {
                var j = i
                while j < s.count, s[j] == "_" || s[j].properties.isAlphabetic || ("0"..."9").contains(s[j]) { j += 1 }
                out.append(Token(kind: .name, text: String(String.UnicodeScalarView(s[i..<j]))))
                i = j; continue
            }
            if ("0"..."9").contains(c) {
                var j = i
                var isFloat = false
                while j < s.count, ("0"..."9").contains(s[j]) || s[j] == "_" { j += 1 }
                if j + 1 < s.count, s[j] == ".", ("0"..."9").contains(s[j + 1]) {
                    isFloat = true; j += 1
                    while j < s.count, ("0"..."9").contains(s[j]) || s[j] == "_" { j += 1 }
                }
                if j < s.count, s[j] == "e" || s[j] == "E" {
                    var k = j + 1
                    if k < s.count, s[k] == "+" || s[k] == "-" { k += 1 }
                    if k < s.count, ("0"..."9").contains(s[k]) {
                        isFloat = true; j = k
                        while j < s.count, ("0"..."9").contains(s[j]) { j += 1 }
                    }
                }
                let literal = String(String.UnicodeScalarView(s[i..<j])).replacingOccurrences(of: "_", with: "")
                out.append(Token(kind: isFloat ? .float : .int, text: literal))
                i = j; continue
            }
            if c == "'" || c == "\"" {
                var value = String.UnicodeScalarView()
                var j = i + 1
                var closed = false
                while j < s.count {
                    let d = s[j]
                    if d == c { closed = true; j += 1; break }
                    if d == "\\", j + 1 < s.count {
                        let e = s[j + 1]
                        j += 2
                        switch e {
                        case "n": value.append("\n")
                        case "t": value.append("\t")
                        case "r": value.append("\r")
                        case "\\": value.append("\\")
                        case "'": value.append("'")
                        case "\"": value.append("\"")
                        case "0": value.append("\0")
                        case "a": value.append("\u{07}")
                        case "b": value.append("\u{08}")
                        case "f": value.append("\u{0C}")
                        case "v": value.append("\u{0B}")
                        case "u", "x", "U":
                            let width = e == "u" ? 4 : e == "U" ? 8 : 2
                            guard j + width <= s.count,
                                  let code = UInt32(String(String.UnicodeScalarView(s[j..<(j + width)])), radix: 16),
                                  let scalar = Unicode.Scalar(code) else {
                                throw JinjaError.syntax("a string literal has a bad \\\(e) escape", line: line)
                            }
                            value.append(scalar); j += width
                        case "\n": break
                        default: value.append("\\"); value.append(e)
                        }
                        continue
                    }
                    value.append(d); j += 1
                }
                guard closed else { throw JinjaError.syntax("a string literal is never closed", line: line) }
                out.append(Token(kind: .string, text: String(value)))
                i = j; continue
            }
            if i + 1 < s.count {
                let pair = String(String.UnicodeScalarView([c, s[i + 1]]))
                if twoCharOps.contains(pair) { out.append(Token(kind: .op, text: pair)); i += 2; continue }
            }
            guard "+-*/%~<>=()[]{}.,:|!".unicodeScalars.contains(c) else {
                throw JinjaError.syntax("unexpected character '\(c)'", line: line)
            }
            out.append(Token(kind: .op, text: String(c)))
            i += 1
        }
        return out
    }
}
