/// Character classes as the regex engines behind `tokenizers` define them.
///
/// Oniguruma (Split/ByteLevel regexes) and Rust's `char` methods (Digits, Strip, lstrip/rstrip)
/// both follow Unicode general categories and the White_Space property. Oniguruma in
/// `tokenizers` 0.2x ships Unicode 16.0 tables while Swift's are newer, so letters and numbers
/// assigned after 16.0 are excluded to keep ids identical (checked against every code point in
/// `oniguruma_classes.json`).
enum UnicodeClasses {
    static let whitespaceBit: UInt8 = 1
    static let letterBit: UInt8 = 2
    static let numberBit: UInt8 = 4
    static let otherBit: UInt8 = 32       // none of \s, \p{L}, \p{N}: `[^\s\p{L}\p{N}]`
    /// `\w` (Oniguruma and Rust regex alike): Alphabetic, marks, Nd, Pc and Join_Control — so
    /// "Ⅻ" (Nl, alphabetic) is a word character but "½" (No) is not.
    static let wordBit: UInt8 = 64

    /// One byte of class bits for every Basic Multilingual Plane scalar, built once.
    static let bmpTable: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 0x10000)
        for cp in 0..<0x10000 {
            if let scalar = Unicode.Scalar(UInt32(cp)) { table[cp] = computeBits(scalar) }
        }
        return table
    }()

    static func computeBits(_ scalar: Unicode.Scalar) -> UInt8 {
        let bits = categoryBits(scalar)
        return bits & (whitespaceBit | letterBit | numberBit) == 0 ? bits | otherBit : bits
    }

    private static func categoryBits(_ scalar: Unicode.Scalar) -> UInt8 {
        let properties = scalar.properties
        var bits: UInt8 = properties.isWhitespace ? whitespaceBit : 0
        if let age = properties.age, age.major > 16 { return bits }
        let category = properties.generalCategory
        switch category {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            bits |= letterBit
        case .decimalNumber, .letterNumber, .otherNumber:
            bits |= numberBit
        default:
            break
        }
        switch category {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation:
            bits |= wordBit
        default:
            if properties.isAlphabetic || properties.isJoinControl { bits |= wordBit }
        }
        return bits
    }

    @inline(__always)
    static func bits(_ value: UInt32) -> UInt8 {
        if value < 0x10000 { return bmpTable[Int(value)] }
        guard let scalar = Unicode.Scalar(value) else { return otherBit }
        return computeBits(scalar)
    }

    /// Class bits of every scalar of a text (one table access per scalar).
    static func bits(of scalars: [UInt32]) -> [UInt8] {
        let table = bmpTable
        return scalars.map { $0 < 0x10000 ? table[Int($0)] : bits($0) }
    }

    /// `\s`: the White_Space property.
    @inline(__always) static func isWhitespace(_ v: UInt32) -> Bool { bits(v) & whitespaceBit != 0 }
    /// `\p{L}`.
    @inline(__always) static func isLetter(_ v: UInt32) -> Bool { bits(v) & letterBit != 0 }
    /// `\p{N}`, also Rust's `char::is_numeric`.
    @inline(__always) static func isNumber(_ v: UInt32) -> Bool { bits(v) & numberBit != 0 }
    /// `\w`, used by the Whitespace pre-tokenizer and added tokens' `single_word`.
    @inline(__always) static func isWordCharacter(_ v: UInt32) -> Bool { bits(v) & wordBit != 0 }
}

/// Decoding UTF-8 bytes (valid here: they come from Swift Strings and vocabulary entries) into
/// scalars and their starting byte offsets, the form the scanners and splitters work on.
struct ScalarText {
    var scalars: [UInt32] = []
    /// offsets[i] = byte offset of scalars[i]; offsets[count] = byte count. Stored as UInt32
    /// (a Swift String cannot reach 4 GB here) to halve the memory of long texts.
    var offsets = ByteOffsets()

    struct ByteOffsets {
        fileprivate var storage: [UInt32] = []
        @inline(__always) subscript(i: Int) -> Int { Int(storage[i]) }
        fileprivate mutating func reserveCapacity(_ n: Int) { storage.reserveCapacity(n) }
        @inline(__always) fileprivate mutating func append(_ v: Int) { storage.append(UInt32(truncatingIfNeeded: v)) }
    }

    init(_ bytes: [UInt8]) {
        scalars.reserveCapacity(bytes.count)
        offsets.reserveCapacity(bytes.count + 1)
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = UInt32(bytes[i])
            offsets.append(i)
            if b0 < 0x80 {
                scalars.append(b0); i += 1
            } else if b0 >= 0xC0 && b0 < 0xE0 && i + 1 < n {
                scalars.append((b0 & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F)); i += 2
            } else if b0 >= 0xE0 && b0 < 0xF0 && i + 2 < n {
                scalars.append((b0 & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6
                               | UInt32(bytes[i + 2] & 0x3F)); i += 3
            } else if b0 >= 0xF0 && i + 3 < n {
                scalars.append((b0 & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12
                               | UInt32(bytes[i + 2] & 0x3F) << 6 | UInt32(bytes[i + 3] & 0x3F)); i += 4
            } else {
                // Not reachable with text from Swift Strings; degrade instead of reading past the end.
                scalars.append(0xFFFD); i += 1
            }
        }
        offsets.append(n)
    }

    var count: Int { scalars.count }
}

extension Array where Element == UInt8 {
    /// Appends the UTF-8 encoding of one scalar value.
    @inline(__always)
    mutating func appendUTF8(_ v: UInt32) {
        if v < 0x80 {
            append(UInt8(v))
        } else if v < 0x800 {
            append(UInt8(0xC0 | (v >> 6))); append(UInt8(0x80 | (v & 0x3F)))
        } else if v < 0x10000 {
            append(UInt8(0xE0 | (v >> 12))); append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            append(UInt8(0x80 | (v & 0x3F)))
        } else {
            append(UInt8(0xF0 | (v >> 18))); append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            append(UInt8(0x80 | ((v >> 6) & 0x3F))); append(UInt8(0x80 | (v & 0x3F)))
        }
    }
}
