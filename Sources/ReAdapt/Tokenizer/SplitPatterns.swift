import Foundation

/// Something that finds the non-overlapping matches of a Split pattern in a text, leftmost first,
/// returned as byte ranges into the text's UTF-8.
protocol SplitPattern {
    func matches(in text: ScalarText) -> [Range<Int>]
}

extension SplitPattern {
    /// The whole text cut into alternating (byte range, is-match) segments, as `tokenizers`'
    /// `Pattern::find_matches` does; empty matches are kept (they vanish later as empty pieces).
    func segments(in text: ScalarText, invert: Bool = false) -> [(range: Range<Int>, isMatch: Bool)] {
        let total = text.offsets[text.count]
        if total == 0 { return [(0..<0, false)] }
        var out: [(range: Range<Int>, isMatch: Bool)] = []
        var previous = 0
        for m in matches(in: text) {
            if previous != m.lowerBound { out.append((previous..<m.lowerBound, invert)) }
            out.append((m, !invert))
            previous = m.upperBound
        }
        if previous != total { out.append((previous..<total, invert)) }
        return out
    }
}

/// The well-known pre-tokenization regexes, recognised by their exact pattern string and run by
/// hand-written scanners that reproduce Oniguruma's backtracking results.
enum KnownPattern {
    static let gpt2 = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    static func scanner(for pattern: String) -> SplitPattern? {
        switch pattern {
        case gpt2: return GPT2Scanner()
        case llama3: return Llama3Scanner(maxDigits: 3)
        case qwen2: return Llama3Scanner(maxDigits: 1)
        default: return nil
        }
    }
}

private let apostrophe: UInt32 = 0x27, space: UInt32 = 0x20, cr: UInt32 = 0x0D, lf: UInt32 = 0x0A
private let whitespace = UnicodeClasses.whitespaceBit, letter = UnicodeClasses.letterBit
private let number = UnicodeClasses.numberBit, other = UnicodeClasses.otherBit

/// End of the run of scalars whose class bits intersect `mask`, starting at `start`.
@inline(__always) private func runEnd(_ cls: [UInt8], _ start: Int, _ mask: UInt8) -> Int {
    var j = start
    while j < cls.count && cls[j] & mask != 0 { j += 1 }
    return j
}

/// `\s+(?!\S)|\s+` at a whitespace scalar: the whole run if it ends the text, otherwise all but
/// the last scalar of the run (which then leads the next word), but at least one scalar.
@inline(__always) private func whitespaceMatchEnd(_ cls: [UInt8], _ i: Int) -> Int {
    let end = runEnd(cls, i, whitespace)
    if end == cls.count || end - i == 1 { return end }
    return end - 1
}

/// Length of a contraction ('s 't 're 've 'm 'll 'd) at i, or 0. `ignoreCase` follows
/// Oniguruma's Unicode case folding (which also folds ſ, U+017F, to s).
@inline(__always) private func contractionLength(_ s: [UInt32], _ i: Int, ignoreCase: Bool) -> Int {
    guard s[i] == apostrophe, i + 1 < s.count else { return 0 }
    func lower(_ c: UInt32) -> UInt32 {
        guard ignoreCase else { return c }
        if c >= 0x41 && c <= 0x5A { return c + 0x20 }
        if c == 0x17F { return 0x73 }
        return c
    }
    let a = lower(s[i + 1])
    if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return 2 }            // s t m d
    guard i + 2 < s.count else { return 0 }
    let b = lower(s[i + 2])
    if (a == 0x72 || a == 0x76) && b == 0x65 { return 3 }                       // re ve
    if a == 0x6C && b == 0x6C { return 3 }                                      // ll
    return 0
}

/// A hand-written scanner for a well-known pattern: matches tile the text, each one found by
/// `matchEnd` from where the previous one stopped.
protocol ScalarScanner: SplitPattern {
    /// Where the match that starts at scalar `i` ends (always > i).
    func matchEnd(_ s: [UInt32], _ cls: [UInt8], _ i: Int, _ n: Int) -> Int
}

extension ScalarScanner {
    func matches(in text: ScalarText) -> [Range<Int>] {
        let s = text.scalars, n = s.count, offsets = text.offsets
        let cls = UnicodeClasses.bits(of: s)
        var out: [Range<Int>] = []
        out.reserveCapacity(n / 3 + 1)
        var i = 0
        while i < n {
            let end = matchEnd(s, cls, i, n)
            out.append(offsets[i]..<offsets[end])
            i = end
        }
        return out
    }
}

/// GPT-2's pattern (also the one inside the ByteLevel pre-tokenizer).
struct GPT2Scanner: ScalarScanner {
    @inline(__always) func matchEnd(_ s: [UInt32], _ cls: [UInt8], _ i: Int, _ n: Int) -> Int {
        let contraction = contractionLength(s, i, ignoreCase: false)
        if contraction > 0 { return i + contraction }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional literal space, then a run.
        let start = (s[i] == space && i + 1 < n) ? i + 1 : i
        let lead = cls[start]
        if lead & letter != 0 { return runEnd(cls, start, letter) }
        if lead & number != 0 { return runEnd(cls, start, number) }
        if lead & other != 0 { return runEnd(cls, start, other) }
        return whitespaceMatchEnd(cls, i)
    }
}

/// Llama-3's pattern (`maxDigits` 3) and Qwen2's (`maxDigits` 1).
struct Llama3Scanner: ScalarScanner {
    let maxDigits: Int

    @inline(__always) func matchEnd(_ s: [UInt32], _ cls: [UInt8], _ i: Int, _ n: Int) -> Int {
        let c = s[i]
        let contraction = contractionLength(s, i, ignoreCase: true)
        if contraction > 0 { return i + contraction }
        let bits = cls[i]
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if bits & letter != 0 { return runEnd(cls, i, letter) }
        if bits & number == 0 && c != cr && c != lf && i + 1 < n && cls[i + 1] & letter != 0 {
            return runEnd(cls, i + 1, letter)
        }
        // `\p{N}{1,maxDigits}`
        if bits & number != 0 { return min(runEnd(cls, i, number), i + maxDigits) }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let start = (c == space && i + 1 < n && cls[i + 1] & other != 0) ? i + 1 : i
        if cls[start] & other != 0 {
            var j = runEnd(cls, start, other)
            while j < n && (s[j] == cr || s[j] == lf) { j += 1 }
            return j
        }
        // `\s*[\r\n]+`: through the last CR/LF of the whitespace run, if it has one.
        let wsEnd = runEnd(cls, i, whitespace)
        var k = wsEnd - 1
        while k >= i {
            if s[k] == cr || s[k] == lf { return k + 1 }
            k -= 1
        }
        return whitespaceMatchEnd(cls, i)
    }
}

/// A literal string pattern (tokenizers escapes it into a regex): leftmost non-overlapping hits.
struct LiteralPattern: SplitPattern {
    let needle: [UInt8]

    func matches(in text: ScalarText) -> [Range<Int>] {
        // Rebuilding the bytes from scalars keeps the interface uniform; literal splits are rare.
        var bytes = [UInt8]()
        bytes.reserveCapacity(text.offsets[text.count])
        for s in text.scalars { bytes.appendUTF8(s) }
        return LiteralPattern.find(needle, in: bytes)
    }

    static func find(_ needle: [UInt8], in bytes: [UInt8]) -> [Range<Int>] {
        guard !needle.isEmpty, bytes.count >= needle.count else { return [] }
        var out: [Range<Int>] = []
        var i = 0
        let first = needle[0], last = bytes.count - needle.count
        while i <= last {
            if bytes[i] == first {
                var j = 1
                while j < needle.count && bytes[i + j] == needle[j] { j += 1 }
                if j == needle.count {
                    out.append(i..<(i + needle.count))
                    i += needle.count
                    continue
                }
            }
            i += 1
        }
        return out
    }
}

/// Each scalar satisfying a predicate is its own match (tokenizers' `Fn(char) -> bool` pattern).
struct ScalarPredicatePattern: SplitPattern {
    let predicate: (UInt32) -> Bool

    func matches(in text: ScalarText) -> [Range<Int>] {
        var out: [Range<Int>] = []
        for (i, s) in text.scalars.enumerated() where predicate(s) {
            out.append(text.offsets[i]..<text.offsets[i + 1])
        }
        return out
    }
}

/// Any other regex, run by ICU through NSRegularExpression. `\s` is widened to Oniguruma's
/// White_Space set (ICU leaves out U+000B and U+0085).
struct ICURegexPattern: SplitPattern {
    let regex: NSRegularExpression

    init(pattern: String, file: String) throws {
        do {
            regex = try NSRegularExpression(pattern: ICURegexPattern.widenWhitespace(pattern))
        } catch {
            throw TokenizerError.invalidRegex(path: file, pattern: pattern, reason: "\(error)")
        }
    }

    func matches(in text: ScalarText) -> [Range<Int>] {
        var string = ""
        string.unicodeScalars.reserveCapacity(text.count)
        var utf16ToByte = [Int]()
        utf16ToByte.reserveCapacity(text.count + 1)
        for (i, v) in text.scalars.enumerated() {
            let scalar = Unicode.Scalar(v)!
            string.unicodeScalars.append(scalar)
            utf16ToByte.append(text.offsets[i])
            if v >= 0x10000 { utf16ToByte.append(text.offsets[i]) }
        }
        utf16ToByte.append(text.offsets[text.count])
        let ns = string as NSString
        var out: [Range<Int>] = []
        for m in regex.matches(in: string, range: NSRange(location: 0, length: ns.length)) {
            out.append(utf16ToByte[m.range.location]..<utf16ToByte[m.range.location + m.range.length])
        }
        return out
    }

    /// Rewrites `\s` (in and out of brackets) and `\S` (outside brackets) to Oniguruma's set.
    static func widenWhitespace(_ pattern: String) -> String {
        var out = ""
        var inClass = 0
        var escaped = false
        for ch in pattern.unicodeScalars {
            if escaped {
                escaped = false
                if ch == "s" {
                    out += inClass > 0 ? #"\s\x{0B}\x{85}"# : #"[\s\x{0B}\x{85}]"#
                } else if ch == "S" && inClass == 0 {
                    out += #"[^\s\x{0B}\x{85}]"#
                } else {
                    out += "\\"; out.unicodeScalars.append(ch)
                }
                continue
            }
            if ch == "\\" { escaped = true; continue }
            if ch == "[" { inClass += 1 } else if ch == "]" && inClass > 0 { inClass -= 1 }
            out.unicodeScalars.append(ch)
        }
        if escaped { out += "\\" }
        return out
    }
}
