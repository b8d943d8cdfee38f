/// A decoder turns the token strings of some ids into text, step by step over a list of
/// strings (tokenizers' `decode_chain`); the final list is concatenated. Tokens are UTF-8 bytes;
/// every step outputs valid UTF-8, as Rust's Strings are.
protocol TokenDecoder {
    func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]]
}

@inline(__always) func validUTF8(_ bytes: [UInt8]) -> [UInt8] {
    // Invalid sequences become U+FFFD per maximal subpart, as Rust's from_utf8_lossy.
    Array(String(decoding: bytes, as: UTF8.self).utf8)
}

struct SequenceDecoder: TokenDecoder {
    let steps: [TokenDecoder]
    func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] { steps.reduce(tokens) { $1.decodeChain($0) } }
}

/// Maps GPT-2 alphabet scalars back to bytes; a token with a scalar outside the alphabet (an
/// added token like " strip me") keeps its UTF-8 bytes.
struct ByteLevelDecoder: TokenDecoder {
    func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] {
        var bytes = [UInt8]()
        for t in tokens {
            if let raw = ByteLevelAlphabet.decode(t) { bytes += raw } else { bytes += t }
        }
        return [validUTF8(bytes)]
    }
}

struct ReplaceDecoder: TokenDecoder {
    let pattern: SplitPattern
    let content: [UInt8]
    func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] {
        tokens.map { replaceMatches(of: pattern, in: $0, with: content) }
    }
}

/// Turns runs of `<0xNN>` tokens into the bytes they stand for (or one U+FFFD per byte when the
/// run is not valid UTF-8).
struct ByteFallbackDecoder: TokenDecoder {
    static func byteValue(_ t: [UInt8]) -> UInt8? {
        guard t.count == 6, t[0] == 0x3C, t[1] == 0x30, t[2] == 0x78, t[5] == 0x3E else { return nil }
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        guard let h = hex(t[3]), let l = hex(t[4]) else { return nil }
        return h << 4 | l
    }

    func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var pending: [UInt8] = []
        func flush() {
            if pending.isEmpty { return }
            if isValidUTF8(pending) {
                out.append(pending)
            } else {
                for _ in pending { out.append([0xEF, 0xBF, 0xBD]) }
            }
            pending.removeAll()
        }
        for t in tokens {
            if let b = ByteFallbackDecoder.byteValue(t) {
                pending.append(b)
            } else {
                flush()
                out.append(t)
            }
        }
        flush()
        return out
    }
}

/// Whether bytes are well-formed UTF-8 (Rust's `String::from_utf8(...).is_ok()`).
func isValidUTF8(_ bytes: [UInt8]) -> Bool { String(validating: bytes, as: UTF8.self) != nil }

struct FuseDecoder: TokenDecoder {
    func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] { [tokens.flatMap { $0 }] }
}

/// Removes up to `start` leading and `stop` trailing copies of one character from each token.
struct StripDecoder: TokenDecoder {
    let content: UInt32
    let start: Int
    let stop: Int

    func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] {
        tokens.map { token in
            let t = ScalarText(token)
            var startCut = 0
            for i in 0..<min(start, t.count) {
                if t.scalars[i] == content { startCut = i + 1 } else { break }
            }
            var stopCut = t.count
            for i in 0..<stop {
                let index = t.count - i - 1
                guard index >= 0 else { break }   // tokenizers would panic here; stop instead
                if t.scalars[index] == content { stopCut = index } else { break }
            }
            if stopCut <= startCut { return [] }
            return Array(token[t.offsets[startCut]..<t.offsets[stopCut]])
        }
    }
}

/// SentencePiece's decoder: the replacement becomes a space, except in the first token (when a
/// prefix was prepended), where it is dropped.
struct MetaspaceDecoder: TokenDecoder {
    let replacement: UInt32
    let dropInFirstToken: Bool

    func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] {
        tokens.enumerated().map { index, token in
            var out = [UInt8]()
            out.reserveCapacity(token.count)
            for s in ScalarText(token).scalars {
                if s == replacement {
                    if !(index == 0 && dropInFirstToken) { out.append(0x20) }
                } else {
                    out.appendUTF8(s)
                }
            }
            return out
        }
    }
}

/// Classic BPE's end-of-word suffix becomes a space (nothing after the last token).
struct SuffixDecoder: TokenDecoder {
    let suffix: [UInt8]
    func decodeChain(_ tokens: [[UInt8]]) -> [[UInt8]] {
        tokens.enumerated().map { index, token in
            replaceMatches(of: LiteralPattern(needle: suffix), in: token, with: index == tokens.count - 1 ? [] : [0x20])
        }
    }
}

func makeDecoder(_ json: JSONObject) throws -> TokenDecoder {
    let type = try json.string("type")
    switch type {
    case "Sequence":
        return SequenceDecoder(steps: try json.objects("decoders").map(makeDecoder))
    case "ByteLevel":
        return ByteLevelDecoder()
    case "Replace":
        return ReplaceDecoder(pattern: try makePattern(json, key: "pattern"), content: Array(try json.string("content").utf8))
    case "ByteFallback":
        return ByteFallbackDecoder()
    case "Fuse":
        return FuseDecoder()
    case "BPEDecoder":
        return SuffixDecoder(suffix: Array((try json.optionalString("suffix") ?? "</w>").utf8))
    case "Strip":
        let content = try json.string("content")
        guard content.unicodeScalars.count == 1 else { throw json.invalid("content", "expected a single character") }
        let start = try json.int("start", default: 0), stop = try json.int("stop", default: 0)
        guard start >= 0, stop >= 0 else { throw json.invalid(start < 0 ? "start" : "stop", "expected a count of at least 0") }
        return StripDecoder(content: content.unicodeScalars.first!.value, start: start, stop: stop)
    case "Metaspace":
        let replacement = try json.optionalString("replacement") ?? "\u{2581}"
        guard replacement.unicodeScalars.count == 1 else { throw json.invalid("replacement", "expected a single character") }
        var drop = true
        if let scheme = try json.optionalString("prepend_scheme") {
            drop = scheme != "never"
        } else {
            drop = try json.bool("add_prefix_space", default: true)
        }
        return MetaspaceDecoder(replacement: replacement.unicodeScalars.first!.value, dropInFirstToken: drop)
    default:
        throw TokenizerError.unsupportedComponent(path: json.path, kind: "decoder", type: type)
    }
}
