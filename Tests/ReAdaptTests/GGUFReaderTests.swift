import Foundation
import XCTest
@testable import ReAdapt

/// GGUF parsing, metadata and dequantization against gguf-py 0.19 (scripts/fixtures/make_gguf_fixtures.py).
final class GGUFReaderTests: XCTestCase {
    func testEveryTensorTypeDequantizesBitExactlyLikeGGUFPy() throws {
        let file = try GGUFFile(url: try GGUFFixtures.url("types.gguf"))
        let reference = try SafetensorsFile(url: try GGUFFixtures.url("types_reference.safetensors"))
        XCTAssertEqual(Set(file.tensors.map(\.name)), Set(reference.tensorNames))
        XCTAssertEqual(Set(file.tensors.map(\.type)), [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K])
        for info in file.tensors {
            let ours = try file.dequantize(info.name)
            let expected = try reference.load(info.name)
            XCTAssertEqual(ours.shape, expected.shape, info.name)
            XCTAssertEqual(ours.scalars.map(\.bitPattern), expected.scalars.map(\.bitPattern), "\(info.name) (\(info.type.name))")
        }
    }

    func testShapesAreGGMLDimsReversed() throws {
        let file = try GGUFFile(url: try GGUFFixtures.url("types.gguf"))
        let q6 = try XCTUnwrap(file.tensor("q6_k"))
        XCTAssertEqual(q6.ggmlDims, [256, 3])
        XCTAssertEqual(q6.shape, [3, 256])
        XCTAssertEqual(q6.byteCount, 3 * 210)
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.alignment, 32)
        XCTAssertEqual(file.dataStart % 32, 0)
    }

    func testMetadataOfEveryValueType() throws {
        let file = try GGUFFile(url: try GGUFFixtures.url("types.gguf"))
        XCTAssertEqual(file["general.architecture"], .string("llama"))
        XCTAssertEqual(file["test.u8"], .uint8(200))
        XCTAssertEqual(file["test.i8"], .int8(-100))
        XCTAssertEqual(file["test.u16"], .uint16(60000))
        XCTAssertEqual(file["test.i16"], .int16(-30000))
        XCTAssertEqual(file["test.u32"], .uint32(4_000_000_000))
        XCTAssertEqual(file["test.i32"], .int32(-2_000_000_000))
        XCTAssertEqual(file["test.u64"], .uint64(1 << 63 + 5))
        XCTAssertNil(file["test.u64"]?.intValue, "beyond Int.max")
        XCTAssertEqual(file["test.i64"], .int64(-(1 << 62)))
        XCTAssertEqual(file["test.f32"], .float32(0.1))
        XCTAssertEqual(file["test.f64"], .float64(0.1))
        XCTAssertEqual(file["test.bool"], .bool(true))
        XCTAssertEqual(file["test.string"], .string("héllo ▁wörld 🎉"))
        XCTAssertEqual(file["test.strings"], .array([.string("a"), .string(""), .string("ß")]))
        XCTAssertEqual(file["test.ints"]?.arrayValue?.compactMap(\.intValue), [1, -2, 3])
        XCTAssertNil(file["no.such.key"])
    }

    func testBuilderFileIsValidAndHonoursAlignment() throws {
        var b = GGUFBuilder.valid()
        let url = try temporaryFile(b.bytes())
        let file = try GGUFFile(url: url)
        XCTAssertEqual(file.tensors.map(\.name), ["a", "b"])
        XCTAssertEqual(try file.dequantize("a").shape, [2, 4])
        b.version = 2
        XCTAssertEqual(try GGUFFile(url: try temporaryFile(b.bytes())).version, 2)
        b.addUInt32("general.alignment", 64)
        b.alignment = 64
        b.tensors[1].offset = 64
        b.dataBytes = 64 + 34
        let aligned = try GGUFFile(url: try temporaryFile(b.bytes()))
        XCTAssertEqual(aligned.alignment, 64)
        XCTAssertEqual(aligned.dataStart % 64, 0)
    }

    func testHeaderFaultsAreTypedErrors() throws {
        var b = GGUFBuilder.valid()
        b.magic = Array("GGML".utf8)
        XCTAssertEqual(try assertGGUFFails(b.bytes()), .badMagic(file: "test.gguf"))
        for version: UInt32 in [1, 4] {
            b = GGUFBuilder.valid(); b.version = version
            XCTAssertEqual(try assertGGUFFails(b.bytes()), .unsupportedVersion(file: "test.gguf", version: version))
        }
        b = GGUFBuilder.valid(); b.version = UInt32(3).byteSwapped
        XCTAssertEqual(try assertGGUFFails(b.bytes()), .bigEndian(file: "test.gguf"))
        b = GGUFBuilder.valid(); b.tensorCountOverride = 1 << 60
        XCTAssertEqual(try assertGGUFFails(b.bytes()), .countTooLarge(file: "test.gguf", what: "tensors", count: 1 << 60))
        b = GGUFBuilder.valid(); b.keyCountOverride = UInt64.max
        XCTAssertEqual(try assertGGUFFails(b.bytes()), .countTooLarge(file: "test.gguf", what: "metadata entries", count: .max))
        b = GGUFBuilder.valid(); b.metadata.append(("huge", 8, GGUFBuilder.le(UInt64(1) << 40)))
        guard case .truncated? = try assertGGUFFails(b.bytes()) else { return XCTFail("string longer than the file") }
        b = GGUFBuilder.valid(); b.metadata.append(("arr", 9, GGUFBuilder.le(UInt32(5)) + GGUFBuilder.le(UInt64(1) << 50)))
        guard case .countTooLarge? = try assertGGUFFails(b.bytes()) else { return XCTFail("array count") }
        b = GGUFBuilder.valid(); b.metadata.append(("odd", 13, []))
        guard case .invalidMetadata? = try assertGGUFFails(b.bytes()) else { return XCTFail("value type 13") }
        b = GGUFBuilder.valid(); b.metadata.append(("flag", 7, [2]))
        guard case .invalidMetadata? = try assertGGUFFails(b.bytes()) else { return XCTFail("bool byte 2") }
        b = GGUFBuilder.valid(); b.addString("general.architecture", "again")
        XCTAssertEqual(try assertGGUFFails(b.bytes()), .duplicateKey(file: "test.gguf", key: "general.architecture"))
        b = GGUFBuilder.valid(); b.addUInt32("general.alignment", 48)
        guard case .invalidAlignment? = try assertGGUFFails(b.bytes()) else { return XCTFail("alignment 48") }
    }

    func testTensorFaultsAreTypedErrors() throws {
        var b = GGUFBuilder.valid(); b.tensors[1].type = 99
        XCTAssertEqual(try assertGGUFFails(b.bytes()), .unknownTensorType(file: "test.gguf", tensor: "b", type: 99))
        b = GGUFBuilder.valid(); b.tensors[1].offset = 36
        XCTAssertEqual(try assertGGUFFails(b.bytes()), .unalignedOffset(file: "test.gguf", tensor: "b", offset: 36, alignment: 32))
        b = GGUFBuilder.valid(); b.tensors[1].offset = 64
        XCTAssertEqual(try assertGGUFFails(b.bytes()), .dataOutOfRange(file: "test.gguf", tensor: "b", end: 98, dataSize: 66))
        b = GGUFBuilder.valid(); b.tensors[1].offset = 0
        XCTAssertEqual(try assertGGUFFails(b.bytes()), .overlappingTensors(file: "test.gguf", first: "a", second: "b"))
        b = GGUFBuilder.valid(); b.tensors[1].dims = [1 << 40, 1 << 40]
        XCTAssertEqual(try assertGGUFFails(b.bytes()), .sizeOverflow(file: "test.gguf", tensor: "b"))
        b = GGUFBuilder.valid(); b.tensors[1].dims = [UInt64.max]
        XCTAssertEqual(try assertGGUFFails(b.bytes()), .sizeOverflow(file: "test.gguf", tensor: "b"))
        b = GGUFBuilder.valid(); b.tensors[1].dims = [16]
        guard case .invalidShape? = try assertGGUFFails(b.bytes()) else { return XCTFail("row not a whole block") }
        b = GGUFBuilder.valid(); b.tensors[1].dims = [32, 1, 1, 1, 1]
        guard case .invalidShape? = try assertGGUFFails(b.bytes()) else { return XCTFail("5 dims") }
        b = GGUFBuilder.valid(); b.tensors[1].name = "a"
        XCTAssertEqual(try assertGGUFFails(b.bytes()), .duplicateTensor(file: "test.gguf", tensor: "a"))
    }

    /// Cutting the real fixture anywhere inside its header or data must give a typed error.
    func testEveryTruncationIsATypedError() throws {
        let bytes = try [UInt8](Data(contentsOf: try GGUFFixtures.url("types.gguf")))
        // gguf-py pads the last tensor to the alignment, so the last tensor byte, not the file's, must be kept.
        let file = try GGUFFile(url: try GGUFFixtures.url("types.gguf"))
        let dataEnd = file.dataStart + (file.tensors.map { Int($0.offset) + $0.byteCount }.max() ?? 0)
        let cuts = Array(0..<1200) + [dataEnd - 1, dataEnd - 300]
        for cut in cuts where cut < bytes.count {
            let url = try temporaryFile(Array(bytes[..<cut]))
            defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
            XCTAssertThrowsError(try GGUFFile(url: url), "cut at \(cut)") { error in
                XCTAssertTrue(error is GGUFError, "cut at \(cut): \(error)")
            }
        }
    }

    func testMissingFileAndUnknownTensorNameAreTypedErrors() throws {
        XCTAssertThrowsError(try GGUFFile(url: URL(fileURLWithPath: "/nonexistent/x.gguf"))) { error in
            guard case GGUFError.cannotOpen(file: "x.gguf", _)? = error as? GGUFError else { return XCTFail("\(error)") }
        }
        let file = try GGUFFile(url: try GGUFFixtures.url("types.gguf"))
        XCTAssertThrowsError(try file.dequantize("nope")) { error in
            XCTAssertEqual(error as? GGUFError, .tensorNotFound(file: "types.gguf", tensor: "nope"))
        }
    }

    func testHalfWideningIsExactForEveryBitPattern() {
        let all = (0...UInt16.max).map { $0 }
        let reference = FloatConversion.widen(all, format: .f16)
        for (bits, expected) in zip(all, reference) {
            if expected.isNaN { XCTAssertTrue(GGUFDequantizer.halfToFloat(bits).isNaN); continue }
            XCTAssertEqual(GGUFDequantizer.halfToFloat(bits).bitPattern, expected.bitPattern, "0x\(String(bits, radix: 16))")
        }
    }
}
