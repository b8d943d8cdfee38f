import XCTest
@testable import ReAdapt

/// The half-precision kernels: the fast (F16C) path must equal the scalar reference bit for bit,
/// and both must equal an independent reference (Swift's Float16 conversions, which round to
/// nearest even) on every F16 value, every rounding midpoint and many random floats.
final class SafetensorsConversionTests: XCTestCase {
    private func f16ToF32(_ halves: [UInt16], reference: Bool, byteOffset: Int = 0) -> [Float] {
        // Copy to an odd offset when asked, to exercise unaligned sources.
        var storage = [UInt8](repeating: 0, count: halves.count * 2 + byteOffset)
        storage.withUnsafeMutableBytes { raw in
            halves.withUnsafeBytes { raw.baseAddress!.advanced(by: byteOffset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        var out = [Float](repeating: 0, count: halves.count)
        storage.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { dst in
                let src = raw.baseAddress!.advanced(by: byteOffset)
                if reference {
                    HalfPrecisionConversion.referenceF16ToF32(src, dst.baseAddress!, count: halves.count)
                } else {
                    HalfPrecisionConversion.f16ToF32(src, dst.baseAddress!, count: halves.count)
                }
            }
        }
        return out
    }

    private func f32ToF16(_ values: [Float], reference: Bool) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                if reference { HalfPrecisionConversion.referenceF32ToF16(s, d, count: values.count) } else {
                    HalfPrecisionConversion.f32ToF16(s, d, count: values.count)
                }
            }
        }
        return out
    }

    private func f32ToBF16(_ values: [Float]) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                HalfPrecisionConversion.f32ToBF16(s, d, count: values.count)
            }
        }
        return out
    }

    func testEveryF16ValueConvertsExactly() {
        let all = (0...0xFFFF).map { UInt16($0) }
        let fast = f16ToF32(all, reference: false)
        let ref = f16ToF32(all, reference: true)
        let unaligned = f16ToF32(all, reference: false, byteOffset: 1)
        assertBitsEqual(fast, ref, "F16C vs scalar reference")
        assertBitsEqual(unaligned, ref, "unaligned source")
        for (h, value) in zip(all, ref) {
            let swift = Float(Float16(bitPattern: h))
            if swift.isNaN {
                XCTAssertTrue(value.isNaN && value.sign == swift.sign, "0x\(String(h, radix: 16))")
                // Payload kept, made quiet.
                XCTAssertEqual(value.bitPattern & 0x007F_E000, (UInt32(h & 0x3FF) << 13) | 0x0040_0000)
            } else if value.bitPattern != swift.bitPattern {
                return XCTFail("F16 0x\(String(h, radix: 16)) gave \(value), expected \(swift)")
            }
        }
    }

    func testF32ToF16RoundsToNearestEven() {
        var values: [Float] = []
        // Every finite half, the midpoints to its neighbours (ties), and points just beside them.
        for h in 0..<0x7C00 {
            let a = Float(Float16(bitPattern: UInt16(h)))
            let b = Float(Float16(bitPattern: UInt16(h + 1)))
            let mid = (a + b) / 2   // exact: halves have 11 significant bits
            values += [a, mid, mid.nextUp, mid.nextDown, -mid]
        }
        values += [65504, 65519.996, 65520, 1e10, .infinity, -.infinity, 0, -0.0, .leastNonzeroMagnitude,
                   .greatestFiniteMagnitude, 0x1p-25, 0x1p-26, 0x1.8p-25]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200_000 { values.append(Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))) }
        values.removeAll { $0.isNaN }
        let fast = f32ToF16(values, reference: false)
        let ref = f32ToF16(values, reference: true)
        for (i, v) in values.enumerated() {
            let expected = Float16(v).bitPattern
            if ref[i] != expected || fast[i] != expected {
                return XCTFail("\(v) (0x\(String(v.bitPattern, radix: 16))): reference 0x\(String(ref[i], radix: 16)), "
                               + "fast 0x\(String(fast[i], radix: 16)), expected 0x\(String(expected, radix: 16))")
            }
        }
    }

    func testNaNsMatchAcrossPathsAndTorch() {
        // torch (F16C): 0x7F800001 -> 0x7E00, 0xFFC12345 -> 0xFE09, 0x7FA00000 -> 0x7F00; bf16 always 0xFFFF.
        let nans = [0x7FC0_0000, 0xFFC0_0000, 0x7F80_0001, 0xFFC1_2345, 0x7FA0_0000].map { Float(bitPattern: $0) }
        let padded = nans + nans   // 10 values: one full F16C vector plus a scalar tail
        XCTAssertEqual(f32ToF16(padded, reference: true), f32ToF16(padded, reference: false))
        XCTAssertEqual(Array(f32ToF16(padded, reference: false).prefix(5)), [0x7E00, 0xFE00, 0x7E00, 0xFE09, 0x7F00])
        XCTAssertEqual(f32ToBF16(nans), [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF])
    }

    func testF32ToBF16RoundsToNearestEven() {
        var rng = SystemRandomNumberGenerator()
        var values: [Float] = [0, -0.0, 1, .infinity, -.infinity, .greatestFiniteMagnitude, .leastNonzeroMagnitude,
                               Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x3F80_8001),
                               Float(bitPattern: 0x7F7F_8000)]
        for _ in 0..<100_000 { values.append(Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))) }
        values.removeAll { $0.isNaN }
        let out = f32ToBF16(values)
        for (v, b) in zip(values, out) where UInt32(b) << 16 != bf16Rounded(v).bitPattern {
            return XCTFail("\(v): got 0x\(String(b, radix: 16)), expected 0x\(String(bf16Rounded(v).bitPattern >> 16, radix: 16))")
        }
        XCTAssertEqual(f32ToBF16([Float(bitPattern: 0x7F7F_8000)]), [0x7F80], "rounds up to infinity")
    }

    func testEveryLengthUsesTheSameRule() {
        var rng = SystemRandomNumberGenerator()
        for n in 0...40 {
            let values = (0..<n).map { _ in Float.random(in: -70000...70000, using: &rng) }
            XCTAssertEqual(f32ToF16(values, reference: false), f32ToF16(values, reference: true), "n = \(n)")
            let halves = (0..<n).map { _ in UInt16.random(in: 0...0xFFFF, using: &rng) }
            assertBitsEqual(f16ToF32(halves, reference: false, byteOffset: n % 2), f16ToF32(halves, reference: true), "n = \(n)")
        }
    }
}
