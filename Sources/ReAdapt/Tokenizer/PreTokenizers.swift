/// A piece of text on its way to the model. Byte-level pieces keep their raw bytes: the GPT-2
/// byte→scalar mapping is applied lazily (the BPE model indexes raw bytes directly).
struct Piece {
    var bytes: [UInt8]
    /// The ByteLevel pre-tokenizer has run: `bytes` are raw and stand for their mapped scalars.
    var isByteLevel = false
    /// Starts at offset 0 of the original text (Metaspace's prepend_scheme "first").
    var atTextStart = false

    /// The text as the vocabulary sees it (byte-level pieces mapped to GPT-2's alphabet).
    func mapped() -> Piece {
        guard isByteLevel else { return self }
        return Piece(bytes: ByteLevelAlphabet.encode(bytes), isByteLevel: false, atTextStart: atTextStart)
    }
}

protocol PreTokenizer {
    func split(_ piece: Piece, into out: inout [Piece])
}

enum SplitBehavior: String {
    case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"

    /// tokenizers' `NormalizedString::split`: which byte ranges survive as pieces.
    func apply(_ segments: [(range: Range<Int>, isMatch: Bool)]) -> [Range<Int>] {
        switch self {
        case .isolated:
            return segments.map(\.range)
        case .removed:
            return segments.filter { !$0.isMatch }.map(\.range)
        case .contiguous:
            var out: [Range<Int>] = []
            var previousMatch = false
            for s in segments {
                if s.isMatch == previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<s.range.upperBound
                } else {
                    out.append(s.range)
                }
                previousMatch = s.isMatch
            }
            return out
        case .mergedWithPrevious:
            var out: [Range<Int>] = []
            var previousMatch = false
            for s in segments {
                if s.isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<s.range.upperBound
                } else {
                    out.append(s.range)
                }
                previousMatch = s.isMatch
            }
            return out
        case .mergedWithNext:
            var out: [Range<Int>] = []
            var previousMatch = false
            for s in segments.reversed() {
                if s.isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1] = s.range.lowerBound..<last.upperBound
                } else {
                    out.append(s.range)
                }
                previousMatch = s.isMatch
            }
            return out.reversed()
        }
    }
}

/// Cuts a piece along byte ranges, dropping empty results as `PreTokenizedString::split` does.
func emit(_ piece: Piece, ranges: [Range<Int>], into out: inout [Piece]) {
    for r in ranges where !r.isEmpty {
        out.append(Piece(bytes: r.count == piece.bytes.count ? piece.bytes : Array(piece.bytes[r]),
                         isByteLevel: piece.isByteLevel,
                         atTextStart: piece.atTextStart && r.lowerBound == 0))
    }
}

struct SequencePreTokenizer: PreTokenizer {
    let steps: [PreTokenizer]
    func split(_ piece: Piece, into out: inout [Piece]) {
        var current = [piece]
        for step in steps {
            var next: [Piece] = []
            next.reserveCapacity(current.count * 2)
            for p in current { step.split(p, into: &next) }
            current = next
        }
        out.append(contentsOf: current)
    }
}

struct SplitPreTokenizer: PreTokenizer {
    let pattern: SplitPattern
    let behavior: SplitBehavior
    let invert: Bool

    func split(_ piece: Piece, into out: inout [Piece]) {
        let p = piece.mapped()
        emit(p, ranges: behavior.apply(pattern.segments(in: ScalarText(p.bytes), invert: invert)), into: &out)
    }
}

/// GPT-2's pre-tokenizer: optional prefix space, the GPT-2 regex, then the byte→scalar map.
struct ByteLevelPreTokenizer: PreTokenizer {
    let addPrefixSpace: Bool
    let useRegex: Bool

    func split(_ piece: Piece, into out: inout [Piece]) {
        if piece.bytes.isEmpty { return }
        var p = piece.mapped()
        if addPrefixSpace && p.bytes.first != 0x20 { p.bytes.insert(0x20, at: 0) }
        p.isByteLevel = true
        if useRegex {
            let ranges = GPT2Scanner().segments(in: ScalarText(p.bytes)).map(\.range)
            emit(p, ranges: ranges, into: &out)
        } else if !p.bytes.isEmpty {
            out.append(p)
        }
    }
}

/// SentencePiece's space handling: spaces become `replacement`, which is optionally prepended
/// and optionally starts each new piece.
struct MetaspacePreTokenizer: PreTokenizer {
    enum PrependScheme: String { case always, first, never }
    let replacement: [UInt8]
    let replacementScalar: UInt32
    let prependScheme: PrependScheme
    let splitOnReplacement: Bool

    func split(_ piece: Piece, into out: inout [Piece]) {
        if piece.bytes.isEmpty { return }
        var p = piece.mapped()
        p.bytes = replaceMatches(of: LiteralPattern(needle: [0x20]), in: p.bytes, with: replacement)
        let startsWithReplacement = p.bytes.starts(with: replacement)
        switch prependScheme {
        case .always where !startsWithReplacement,
             .first where !startsWithReplacement && p.atTextStart:
            p.bytes = replacement + p.bytes
        default:
            break
        }
        if splitOnReplacement {
            let r = replacementScalar
            let segments = ScalarPredicatePattern(predicate: { $0 == r }).segments(in: ScalarText(p.bytes))
            emit(p, ranges: SplitBehavior.mergedWithNext.apply(segments), into: &out)
        } else if !p.bytes.isEmpty {
            out.append(p)
        }
    }
}

/// Splits digits from the rest: each digit alone, or runs of digits together.
struct DigitsPreTokenizer: PreTokenizer {
    let individualDigits: Bool

    func split(_ piece: Piece, into out: inout [Piece]) {
        let p = piece.mapped()
        let segments = ScalarPredicatePattern(predicate: UnicodeClasses.isNumber).segments(in: ScalarText(p.bytes))
        emit(p, ranges: (individualDigits ? SplitBehavior.isolated : .contiguous).apply(segments), into: &out)
    }
}

/// WhitespaceSplit (split on White_Space, dropping it) and Whitespace (`\w+|[^\w\s]+`).
struct WhitespacePreTokenizer: PreTokenizer {
    let keepPunctuationRuns: Bool   // true for "Whitespace", false for "WhitespaceSplit"

    func split(_ piece: Piece, into out: inout [Piece]) {
        let p = piece.mapped()
        let text = ScalarText(p.bytes)
        var ranges: [Range<Int>] = []
        var i = 0
        while i < text.count {
            let c = text.scalars[i]
            if UnicodeClasses.isWhitespace(c) { i += 1; continue }
            let word = keepPunctuationRuns && UnicodeClasses.isWordCharacter(c)
            var j = i + 1
            while j < text.count {
                let d = text.scalars[j]
                if UnicodeClasses.isWhitespace(d) { break }
                if keepPunctuationRuns && UnicodeClasses.isWordCharacter(d) != word { break }
                j += 1
            }
            ranges.append(text.offsets[i]..<text.offsets[j])
            i = j
        }
        emit(p, ranges: ranges, into: &out)
    }
}

func makePreTokenizer(_ json: JSONObject) throws -> PreTokenizer {
    let type = try json.string("type")
    switch type {
    case "Sequence":
        return SequencePreTokenizer(steps: try json.objects("pretokenizers").map(makePreTokenizer))
    case "Split":
        let behaviorName = try json.string("behavior")
        guard let behavior = SplitBehavior(rawValue: behaviorName) else {
            throw json.invalid("behavior", "unknown split behaviour \(behaviorName)")
        }
        return SplitPreTokenizer(pattern: try makePattern(json, key: "pattern"), behavior: behavior,
                                 invert: try json.bool("invert", default: false))
    case "ByteLevel":
        return ByteLevelPreTokenizer(addPrefixSpace: try json.bool("add_prefix_space", default: true),
                                     useRegex: try json.bool("use_regex", default: true))
    case "Metaspace":
        let replacement = try json.optionalString("replacement") ?? "\u{2581}"
        guard replacement.unicodeScalars.count == 1 else {
            throw json.invalid("replacement", "expected a single character")
        }
        var scheme = MetaspacePreTokenizer.PrependScheme.always
        if let name = try json.optionalString("prepend_scheme") {
            guard let s = MetaspacePreTokenizer.PrependScheme(rawValue: name) else {
                throw json.invalid("prepend_scheme", "expected always, first or never")
            }
            scheme = s
        } else if !(try json.bool("add_prefix_space", default: true)) {
            scheme = .never
        }
        return MetaspacePreTokenizer(replacement: Array(replacement.utf8),
                                     replacementScalar: replacement.unicodeScalars.first!.value,
                                     prependScheme: scheme, splitOnReplacement: try json.bool("split", default: true))
    case "Digits":
        return DigitsPreTokenizer(individualDigits: try json.bool("individual_digits", default: false))
    case "WhitespaceSplit":
        return WhitespacePreTokenizer(keepPunctuationRuns: false)
    case "Whitespace":
        return WhitespacePreTokenizer(keepPunctuationRuns: true)
    default:
        throw TokenizerError.unsupportedComponent(path: json.path, kind: "pre-tokenizer", type: type)
    }
}
