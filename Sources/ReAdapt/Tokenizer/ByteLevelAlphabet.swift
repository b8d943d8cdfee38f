/// GPT-2's reversible map between the 256 byte values and printable Unicode scalars: printable
/// Latin-1 bytes map to themselves, the other 68 bytes to U+0100 onwards in byte order (so the
/// space byte 0x20 becomes "Ġ", U+0120).
enum ByteLevelAlphabet {
    static let scalarForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    /// Inverse map; nil for scalars outside the alphabet.
    static let byteForScalar: [UInt32: UInt8] = {
        var inverse = [UInt32: UInt8]()
        for (b, s) in scalarForByte.enumerated() { inverse[s] = UInt8(b) }
        return inverse
    }()

    /// The mapped (printable) UTF-8 form of raw bytes, as stored in byte-level vocabularies.
    static func encode(_ raw: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(raw.count * 2)
        for b in raw { out.appendUTF8(scalarForByte[Int(b)]) }
        return out
    }

    /// The raw bytes behind a mapped token, or nil if some scalar is outside the alphabet.
    static func decode(_ mapped: [UInt8]) -> [UInt8]? {
        let text = ScalarText(mapped)
        var out = [UInt8]()
        out.reserveCapacity(text.count)
        for s in text.scalars {
            guard let b = byteForScalar[s] else { return nil }
            out.append(b)
        }
        return out
    }
}
