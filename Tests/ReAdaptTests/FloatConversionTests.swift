import XCTest
import CKernels
@testable import ReAdapt

/// Conversions are pinned bit-for-bit against PyTorch (fixtures from
/// scripts/fixtures/make_numerics_fixtures.py), and every SIMD path against the scalar one.
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
                if inputs[i].isNaN {
                    // PyTorch's BF16 NaN bits depend on its code path (0x7fc0 or 0xffff): only
                    // require a NaN of the same sign.
                    XCTAssertTrue(bf16[i] & 0x7fff > 0x7f80, "bf16 of NaN must be NaN")
                    XCTAssertEqual(bf16[i] >> 15, UInt16(inputs[i].bitPattern >> 31))
                } else {
                    XCTAssertEqual(bf16[i], torchBF16[i], "bf16 of \(inputs[i]) (0x\(String(inputs[i].bitPattern, radix: 16))) level \(level)")
                }
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
}
