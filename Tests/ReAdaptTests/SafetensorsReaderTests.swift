import Foundation
import XCTest
@testable import ReAdapt

/// Reading files written by Python's safetensors/torch (fixtures from
/// scripts/fixtures/make_safetensors_fixtures.py). Values must match torch's float32 view exactly.
final class SafetensorsReaderTests: XCTestCase {
    private let torchDType: [String: DType] = ["float32": .f32, "float16": .f16, "bfloat16": .bf16,
                                               "int64": .i64, "bool": .bool]

    func testPythonWrittenValuesLoadExactly() throws {
        let file = try SafetensorsFile(url: SafetensorsFixtures.url("values.safetensors"))
        let reference = try SafetensorsFixtures.json("values.json")
        let tensors = try XCTUnwrap(reference["tensors"] as? [String: [String: Any]])
        XCTAssertEqual(file.tensorNames, tensors.keys.sorted())
        XCTAssertEqual(file.metadata, ["format": "pt"])
        for (name, expected) in tensors {
            let info = try XCTUnwrap(file.info(name), name)
            XCTAssertEqual(info.dtype, torchDType[expected["dtype"] as? String ?? ""], name)
            XCTAssertEqual(info.shape, expected["shape"] as? [Int], name)
            guard expected["f32_bits"] is [Any] else { continue }
            let tensor = try file.load(name)
            XCTAssertEqual(tensor.shape, info.shape, name)
            assertBitsEqual(tensor.scalars, try SafetensorsFixtures.floats(expected["f32_bits"]), name)
        }
        // The fixture really contains the interesting cases this test claims to cover.
        XCTAssertEqual(try file.load("scalar.f32").shape, [])
        XCTAssertEqual(try file.load("scalar.f32").scalars, [-1.5])
        XCTAssertEqual(try file.load("empty.f16").shape, [2, 0, 4])
        let f16 = try file.load("f16.patterns").scalars
        XCTAssertTrue(f16.contains { $0.isSubnormal == false && $0 != 0 && abs($0) < 6.2e-5 }, "F16 subnormals")
        XCTAssertTrue(f16.contains { $0.isNaN } && f16.contains { $0.isInfinite })
        XCTAssertTrue(f16.contains { $0 == 0 && $0.sign == .minus }, "negative zero")
    }

    func testNonFloatDTypesAreRecognisedButRefusedByLoad() throws {
        let file = try SafetensorsFile(url: SafetensorsFixtures.url("values.safetensors"))
        XCTAssertEqual(file.info("ids.i64")?.dtype, .i64)
        XCTAssertThrowsError(try file.load("ids.i64")) { error in
            XCTAssertEqual(error as? SafetensorsError,
                           .unsupportedDType(file: "values.safetensors", tensor: "ids.i64", dtype: .i64))
            XCTAssertEqual("\(error)", "values.safetensors: tensor 'ids.i64' is I64, which ReAdapt cannot load as a weight.")
        }
        XCTAssertThrowsError(try file.load("no.such")) { error in
            XCTAssertEqual(error as? SafetensorsError, .tensorNotFound(file: "values.safetensors", tensor: "no.such"))
        }
    }

    func testRawBytesAreTheStoredBytes() throws {
        let file = try SafetensorsFile(url: SafetensorsFixtures.url("values.safetensors"))
        let raw: [UInt8] = try file.withRawBytes("ids.i64") { bytes, info in
            XCTAssertEqual(info.shape, [3])
            return Array(bytes)
        }
        var expected: [UInt8] = []
        for v: Int64 in [1, -2, 3] { withUnsafeBytes(of: v.littleEndian) { expected += $0 } }
        XCTAssertEqual(raw, expected)
        let empty = try file.withRawBytes("empty.f32") { bytes, _ in bytes.count }
        XCTAssertEqual(empty, 0)
    }

    func testLoadIntoCallerStorage() throws {
        let checkpoint = try SafetensorsCheckpoint(url: SafetensorsFixtures.url("values.safetensors"))
        let expected = try checkpoint.load("f16.patterns").scalars
        var buffer = [Float](repeating: 7, count: 20)
        try buffer.withUnsafeMutableBufferPointer { try checkpoint.load("f16.patterns", into: $0) }
        assertBitsEqual(buffer, expected, "load(into:)")
        var wrong = [Float](repeating: 0, count: 19)
        XCTAssertThrowsError(try wrong.withUnsafeMutableBufferPointer { try checkpoint.load("f16.patterns", into: $0) }) {
            XCTAssertEqual($0 as? SafetensorsError, .destinationSizeMismatch(file: "values.safetensors", tensor: "f16.patterns",
                                                                             elements: 20, destination: 19))
        }
    }

    func testShardedCheckpointFromTransformers() throws {
        let dir = SafetensorsFixtures.url("sharded")
        let checkpoint = try SafetensorsCheckpoint(directory: dir)
        XCTAssertEqual(checkpoint.files.count, 5)
        XCTAssertEqual(checkpoint.declaredTotalSize, 2512)
        let order = try XCTUnwrap(SafetensorsFixtures.json("sharded/order.json")["order"] as? [String])
        XCTAssertEqual(checkpoint.tensorNames, order.sorted())
        XCTAssertEqual(checkpoint.info("model.embed_tokens.weight"), TensorInfo(name: "model.embed_tokens.weight", dtype: .bf16, shape: [16, 8]))
        // Every tensor loads and agrees with a direct read of the shard the index names.
        for name in order {
            let shard = try XCTUnwrap(checkpoint.file(containing: name))
            XCTAssertEqual(try checkpoint.load(name), try shard.load(name))
        }
        // The index file itself can be passed too.
        let viaIndex = try SafetensorsCheckpoint(url: dir.appendingPathComponent("model.safetensors.index.json"))
        XCTAssertEqual(viaIndex.tensorNames, checkpoint.tensorNames)
    }

    func testSingleFileCheckpointAndAdapterPath() throws {
        let checkpoint = try SafetensorsCheckpoint(url: SafetensorsFixtures.url("values.safetensors"))
        XCTAssertEqual(checkpoint.tensorNames.count, 11)
        XCTAssertEqual(try checkpoint.load("scalar.bf16").scalars, [2.75])
    }
}
