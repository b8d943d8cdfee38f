/// The few Python 3 string rules SQuAD's normalize_answer depends on, reproduced over Unicode
/// scalars so QAMetrics gives the official script's answers: `str.lower()`, `string.punctuation`,
/// the `\b(a|an|the)\b` regex substitution, and `str.split()`. Swift's own equivalents differ in
/// small ways (no final-sigma rule in a per-scalar lowercase, `Character`-level matching, a
/// different whitespace set), hence this file. Unicode data comes from Swift's tables, which may be
/// a different Unicode version than the Python that produced the fixtures.
enum PythonText {
    /// `str.lower()`: the full lowercase mapping of every code point (so "İ" becomes "i" + U+0307),
    /// plus Python's one context rule: capital sigma becomes final "ς" when it ends a cased word.
    static func lower(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count)
        for (i, scalar) in scalars.enumerated() {
            if scalar.value == 0x3A3 {
                out.append(isFinalSigma(scalars, at: i) ? "\u{3C2}" : "\u{3C3}")
            } else if scalar.isASCII {
                // Fast path; identical to the Unicode mapping for ASCII.
                let v = scalar.value
                out.append((0x41...0x5A).contains(v) ? Unicode.Scalar(v + 32)! : scalar)
            } else {
                out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return out
    }

    /// Final_Sigma (Unicode 3.13, as CPython's handle_capital_sigma tests it on the original text):
    /// a cased letter before (skipping case-ignorables) and no cased letter after (likewise).
    private static func isFinalSigma(_ s: [Unicode.Scalar], at i: Int) -> Bool {
        var j = i - 1
        while j >= 0, s[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0, s[j].properties.isCased else { return false }
        var k = i + 1
        while k < s.count, s[k].properties.isCaseIgnorable { k += 1 }
        return k == s.count || !s[k].properties.isCased
    }

    /// Python's `string.punctuation`: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ — ASCII only, as SQuAD uses
    /// it. Unicode punctuation (“ ” ’ — « » 。 、 ¿ …) is deliberately kept, to match the official script.
    static func isASCIIPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E: return true
        default: return false
        }
    }

    /// A word character of Python's `re` on str patterns: `str.isalnum()` (letters Lu/Ll/Lt/Lm/Lo
    /// or any numeric type) or "_". Combining marks are NOT word characters, so `\b` falls between
    /// "the" and a following U+0301 exactly as in Python.
    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "_" { return true }
        let p = scalar.properties
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return true
        default:
            return p.numericType != nil
        }
    }

    /// `re.sub(r'\b(a|an|the)\b', ' ', text)`: every maximal run of word characters that is exactly
    /// "a", "an" or "the" becomes one space; everything else is kept as is.
    static func replaceArticles(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            guard isWordCharacter(s[i]) else {
                out.append(s[i])
                i += 1
                continue
            }
            var end = i
            while end < s.count, isWordCharacter(s[end]) { end += 1 }
            let word = s[i..<end]
            if word.elementsEqual(["a"]) || word.elementsEqual(["a", "n"])
                || word.elementsEqual(["t", "h", "e"]) {
                out.append(" ")
            } else {
                out.append(contentsOf: word)
            }
            i = end
        }
        return out
    }

    /// Python's `str.isspace()` set: Unicode White_Space plus the ASCII separators U+001C…U+001F.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        (0x1C...0x1F).contains(scalar.value) || scalar.properties.isWhitespace
    }

    /// `str.split()` with no separator: runs of whitespace separate tokens, no empty tokens.
    static func split(_ s: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var tokens: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        for scalar in s {
            if isWhitespace(scalar) {
                if !current.isEmpty { tokens.append(current); current.removeAll(keepingCapacity: true) }
            } else {
                current.append(scalar)
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }
}
