import XCTest
import CKernels
@testable import ReAdapt

/// The one set of half-precision conversions (CKernels/convert.c through `FloatConversion`),
/// used by WeightMatrix and by the safetensors reader and writer. Pinned bit-for-bit against
/// PyTorch (fixtures from scripts/fixtures/make_numerics_fixtures.py), against an independent
/// reference (Swift's Float16 conversions, which round to nearest even) on every F16 value, every
/// rounding midpoint and many random floats, and every SIMD path against the scalar one.
final class FloatConversionTests: XCTestCase {
    static func fixture<T>(_ name: String, as: T.Type) throws -> [T] {
        let directory = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let data = try Data(contentsOf: directory.appendingPathComponent("numerics/\(name)"))
        return data.withUnsafeBytes { Array($0.bindMemory(to: T.self)) }
    }

    /// SIMD levels to exercise: the scalar reference and whatever this CPU has.
    static var levels: [Int32] { Array(0...ck_simd_level()) }

    func testWideningEveryF16AndBF16PatternMatchesTorch() throws {
        let every = (0...0xffff).map { UInt16($0) }
        for (format, file) in [(HalfFormat.f16, "f16_all_to_f32.f32"), (.bf16, "bf16_all_to_f32.f32")] {
            let expected = try Self.fixture(file, as: UInt32.self)
            XCTAssertEqual(expected.count, 65536)
            for level in Self.levels {
                // Odd offset and length so the SIMD tail path runs too.
                let source = Array(every[3...])
                var out = [Float](repeating: 0, count: source.count)
                switch format {
                case .f16: ck_convert_f16_to_f32(level, source, &out, source.count)
                case .bf16: ck_convert_bf16_to_f32(level, source, &out, source.count)
                }
                for (i, value) in out.enumerated() where value.bitPattern != expected[i + 3] {
                    XCTFail("\(format) 0x\(String(source[i], radix: 16)) at level \(level): got 0x\(String(value.bitPattern, radix: 16)), torch 0x\(String(expected[i + 3], radix: 16))")
                    break
                }
            }
        }
    }

    func testNarrowingMatchesTorchIncludingTiesSubnormalsInfAndNaN() throws {
        let inputs = try Self.fixture("f32_inputs.f32", as: Float.self)
        let torchF16 = try Self.fixture("f32_inputs_to_f16.u16", as: UInt16.self)
        let torchBF16 = try Self.fixture("f32_inputs_to_bf16.u16", as: UInt16.self)
        XCTAssertGreaterThan(inputs.filter(\.isNaN).count, 3)
        XCTAssertGreaterThan(inputs.filter(\.isSubnormal).count, 1)
        for level in Self.levels {
            var f16 = [UInt16](repeating: 0, count: inputs.count)
            var bf16 = f16
            ck_convert_f32_to_f16(level, inputs, &f16, inputs.count)
            ck_convert_f32_to_bf16(level, inputs, &bf16, inputs.count)
            for i in inputs.indices {
                // F16: PyTorch's bits exactly, NaN payloads included.
                XCTAssertEqual(f16[i], torchF16[i], "f16 of \(inputs[i]) (0x\(String(inputs[i].bitPattern, radix: 16))) level \(level)")
                // BF16: PyTorch's bits exactly too; its vectorised CPU kernel writes 0xFFFF for
                // every NaN, and so do we.
                XCTAssertEqual(bf16[i], torchBF16[i], "bf16 of \(inputs[i]) (0x\(String(inputs[i].bitPattern, radix: 16))) level \(level)")
                if inputs[i].isNaN { XCTAssertEqual(bf16[i], 0xFFFF) }
            }
        }
    }

    func testSIMDNarrowingAgreesWithScalarOnRandomBitPatterns() {
        var rng = SystemRandomNumberGenerator()
        for count in [0, 1, 7, 15, 17, 100_003] {
            let values = (0..<count).map { _ in Float(bitPattern: UInt32.random(in: .min ... .max, using: &rng)) }
            for (name, convert) in [("f16", ck_convert_f32_to_f16), ("bf16", ck_convert_f32_to_bf16)] {
                var reference = [UInt16](repeating: 0, count: count)
                convert(0, values, &reference, count)
                for level in Self.levels.dropFirst() {
                    var fast = [UInt16](repeating: 1, count: count)
                    convert(level, values, &fast, count)
                    if let i = fast.indices.first(where: { fast[$0] != reference[$0] }) {
                        XCTFail("\(name) level \(level) count \(count): 0x\(String(values[i].bitPattern, radix: 16)) -> 0x\(String(fast[i], radix: 16)), scalar 0x\(String(reference[i], radix: 16))")
                    }
                }
            }
        }
    }

    func testRoundTripThroughPublicAPI() {
        let values: [Float] = [1, -2.5, 0.1, 65504, 1e-6, .infinity]
        for format in HalfFormat.allCases {
            let narrowed = FloatConversion.narrow(values, format: format)
            let widened = FloatConversion.widen(narrowed, format: format)
            XCTAssertEqual(widened[0], 1)
            XCTAssertEqual(widened[1], -2.5)
            XCTAssertEqual(widened[5], .infinity)
            XCTAssertEqual(widened[2], 0.1, accuracy: format == .f16 ? 1e-4 : 1e-3)
            XCTAssertNotEqual(widened[2], 0.1)  // really rounded
        }
    }

    // MARK: - Exhaustive and randomised checks (formerly SafetensorsConversionTests)

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
                ck_convert_f16_to_f32(reference ? 0 : ck_simd_level(), src, dst.baseAddress!, halves.count)
            }
        }
        return out
    }

    private func f32ToF16(_ values: [Float], reference: Bool) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                ck_convert_f32_to_f16(reference ? 0 : ck_simd_level(), s, d, values.count)
            }
        }
        return out
    }

    private func f32ToBF16(_ values: [Float], reference: Bool = false) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                ck_convert_f32_to_bf16(reference ? 0 : ck_simd_level(), s, d, values.count)
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
        // 20 values: a full AVX2 (16) or AVX-512 (16) BF16 block plus a scalar tail, both paths.
        XCTAssertEqual(f32ToBF16(padded + padded, reference: true), [UInt16](repeating: 0xFFFF, count: 20))
        XCTAssertEqual(f32ToBF16(padded + padded), [UInt16](repeating: 0xFFFF, count: 20))
    }

    func testF32ToBF16RoundsToNearestEven() {
        var rng = SystemRandomNumberGenerator()
        var values: [Float] = [0, -0.0, 1, .infinity, -.infinity, .greatestFiniteMagnitude, .leastNonzeroMagnitude,
                               Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x3F80_8001),
                               Float(bitPattern: 0x7F7F_8000)]
        for _ in 0..<100_000 { values.append(Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))) }
        values.removeAll { $0.isNaN }
        let out = f32ToBF16(values)
        XCTAssertEqual(out, f32ToBF16(values, reference: true))
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

    func testUnalignedBF16AndF32SidesAtEveryLevel() {
        // Tensor data inside a mapped file can start at an odd byte: read and write through it.
        let bits = (0..<37).map { UInt16(truncatingIfNeeded: $0 &* 4099) }
        var storage = [UInt8](repeating: 0, count: 2 * bits.count + 1)
        storage.withUnsafeMutableBytes { raw in
            bits.withUnsafeBytes { (raw.baseAddress! + 1).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        let expected = bits.map { Float(bitPattern: UInt32($0) << 16) }
        for level in Self.levels {
            var out = [Float](repeating: 0, count: bits.count)
            storage.withUnsafeBytes { ck_convert_bf16_to_f32(level, $0.baseAddress! + 1, &out, bits.count) }
            assertBitsEqual(out, expected, "bf16 widening from an odd address, level \(level)")
            var back = [UInt8](repeating: 0xAA, count: 2 * bits.count + 1)
            back.withUnsafeMutableBytes { ck_convert_f32_to_bf16(level, expected, $0.baseAddress! + 1, bits.count) }
            XCTAssertEqual(Array(back[1...]), Array(storage[1...]), "bf16 narrowing to an odd address, level \(level)")
            XCTAssertEqual(back[0], 0xAA, "nothing written before the destination")
        }
    }
}
