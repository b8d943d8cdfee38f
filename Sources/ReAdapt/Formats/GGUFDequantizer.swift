/// Dequantizes GGML blocks to Float32 with the arithmetic of gguf-py's `gguf.quants` (and
/// llama.cpp's `dequantize_row_*`): every product and sum in F32, in the same order, with no fused
/// multiply-add, so results match the reference bit for bit. Scales stored as F16 widen exactly.
enum GGUFDequantizer {
    static let supported: Set<GGMLType> = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]

    /// `raw` holds exactly the tensor's blocks; `out` holds exactly its element count.
    static func dequantize(_ raw: UnsafeRawBufferPointer, type: GGMLType, into out: UnsafeMutableBufferPointer<Float>,
                           fileName: String, tensor: String) throws {
        guard supported.contains(type) else {
            throw GGUFError.unsupportedTensorType(file: fileName, tensor: tensor, type: type.name)
        }
        guard let src = raw.baseAddress, let dst = out.baseAddress, out.count > 0 else { return }
        let layout = type.blockLayout
        let blocks = out.count / layout.elements
        precondition(blocks * layout.bytes == raw.count, "GGUF tensor byte count was validated when the file was opened")
        switch type {
        case .f32: UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: out.count * 4)
        case .f16: FloatConversion.widen(src, format: .f16, into: dst, count: out.count)
        case .bf16: FloatConversion.widen(src, format: .bf16, into: dst, count: out.count)
        case .q8_0: forEachBlock(src, dst, blocks, layout, q8_0)
        case .q4_0: forEachBlock(src, dst, blocks, layout, q4_0)
        case .q4_1: forEachBlock(src, dst, blocks, layout, q4_1)
        case .q5_0: forEachBlock(src, dst, blocks, layout) { q5($0, $1, withMinimum: false) }
        case .q5_1: forEachBlock(src, dst, blocks, layout) { q5($0, $1, withMinimum: true) }
        case .q4_K: forEachBlock(src, dst, blocks, layout) { q45_K($0, $1, highBits: false) }
        case .q5_K: forEachBlock(src, dst, blocks, layout) { q45_K($0, $1, highBits: true) }
        case .q6_K: forEachBlock(src, dst, blocks, layout, q6_K)
        default: break
        }
    }

    @inline(__always)
    private static func forEachBlock(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int,
                                     _ layout: (elements: Int, bytes: Int),
                                     _ body: (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void) {
        for b in 0..<blocks { body(src + b * layout.bytes, dst + b * layout.elements) }
    }

    @inline(__always) private static func byte(_ p: UnsafeRawPointer, _ i: Int) -> UInt8 { p.load(fromByteOffset: i, as: UInt8.self) }

    @inline(__always) private static func half(_ p: UnsafeRawPointer, _ i: Int) -> Float {
        halfToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt16.self)))
    }

    /// Exact IEEE binary16 → binary32 widening (subnormals, infinities and NaN payloads kept).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            let magnitude = Float(mantissa) * 0x1p-24  // exact: at most 10 significant bits
            return Float(bitPattern: sign | magnitude.bitPattern)
        }
        let bits = exponent == 31 ? 0x7F80_0000 | (mantissa << 13) : ((exponent + 112) << 23) | (mantissa << 13)
        return Float(bitPattern: sign | bits)
    }

    /// f16 d, 32 × int8: x = q·d.
    private static func q8_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0)
        for i in 0..<32 { y[i] = Float(Int8(bitPattern: byte(b, 2 + i))) * d }
    }

    /// f16 d, 16 bytes of nibbles (low nibbles are elements 0-15): x = (q − 8)·d.
    private static func q4_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0)
        for i in 0..<16 {
            let q = byte(b, 2 + i)
            y[i] = d * Float(Int(q & 0x0F) - 8)
            y[i + 16] = d * Float(Int(q >> 4) - 8)
        }
    }

    /// f16 d, f16 m, 16 bytes of nibbles: x = q·d + m.
    private static func q4_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), m = half(b, 2)
        for i in 0..<16 {
            let q = byte(b, 4 + i)
            y[i] = d * Float(q & 0x0F) + m
            y[i + 16] = d * Float(q >> 4) + m
        }
    }

    /// Q5_0 (f16 d, u32 fifth bits, 16 bytes of nibbles): x = (q − 16)·d; Q5_1 (f16 d, f16 m,
    /// u32, 16 bytes): x = q·d + m. Bit i of the u32 is element i's fifth bit.
    private static func q5(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, withMinimum: Bool) {
        let d = half(b, 0), m = withMinimum ? half(b, 2) : 0
        let bitsOffset = withMinimum ? 4 : 2
        let high = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: bitsOffset, as: UInt32.self))
        let qs = b + bitsOffset + 4
        for i in 0..<32 {
            let low = i < 16 ? byte(qs, i) & 0x0F : byte(qs, i - 16) >> 4
            let q = Int(low) | Int((high >> UInt32(i)) & 1) << 4
            y[i] = withMinimum ? d * Float(q) + m : d * Float(q - 16)
        }
    }

    /// Q4_K (144 bytes) and Q5_K (176 bytes): f16 d, f16 dmin, 12 bytes packing eight 6-bit
    /// scales and mins, [Q5_K: 32 bytes of fifth bits], 128 bytes of nibbles. Sub-block j of 32
    /// takes the low (even j) or high (odd j) nibbles of bytes 32·(j/2)..<32·(j/2)+32, plus bit j
    /// of qh[i] as the fifth bit; x = (d·sc_j)·q − dmin·m_j.
    private static func q45_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, highBits: Bool) {
        let d = half(b, 0), dmin = half(b, 2)
        let scales = b + 4
        let qh = b + 16
        let qs = b + (highBits ? 48 : 16)
        for j in 0..<8 {
            let sc: UInt8, mn: UInt8
            if j < 4 {
                sc = byte(scales, j) & 0x3F
                mn = byte(scales, j + 4) & 0x3F
            } else {
                sc = (byte(scales, j + 4) & 0x0F) | ((byte(scales, j - 4) >> 2) & 0x30)
                mn = (byte(scales, j + 4) >> 4) | ((byte(scales, j) >> 2) & 0x30)
            }
            let scale = d * Float(sc), offset = dmin * Float(mn)
            let shift = UInt8(4 * (j & 1))
            let base = 32 * (j >> 1)
            for i in 0..<32 {
                var q = (byte(qs, base + i) >> shift) & 0x0F
                if highBits { q |= ((byte(qh, i) >> UInt8(j)) & 1) << 4 }
                y[32 * j + i] = scale * Float(q) - offset
            }
        }
    }

    /// Q6_K (210 bytes): 128 bytes of low nibbles, 64 bytes of 2-bit high parts, 16 int8 scales,
    /// f16 d. Element e (c = e/128, r = e%128): low = nibble r/64 of ql[64c + r%64], high = bits
    /// 2·(r/32) of qh[32c + r%32]; x = (d·scale[e/16])·(low | high<<4 − 32).
    private static func q6_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 208)
        for e in 0..<256 {
            let c = e >> 7, r = e & 127
            let low = (byte(b, 64 * c + (r & 63)) >> UInt8(4 * (r >> 6))) & 0x0F
            let high = (byte(b, 128 + 32 * c + (r & 31)) >> UInt8(2 * (r >> 5))) & 0x03
            let q = Int(low | (high << 4)) - 32
            let scale = d * Float(Int8(bitPattern: byte(b, 192 + (e >> 4))))
            y[e] = scale * Float(q)
        }
    }
}
