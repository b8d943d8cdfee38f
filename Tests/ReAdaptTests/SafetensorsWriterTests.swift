import Foundation
import XCTest
@testable import ReAdapt

/// The writer against Python's safetensors/transformers output, byte for byte, plus round trips
/// and the guarantee that an unfinished write leaves nothing at the final path.
final class SafetensorsWriterTests: XCTestCase {
    private func bytes(_ url: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }

    func testOutputIsByteIdenticalToPythonSafetensors() throws {
        let manifest = try SafetensorsFixtures.json("written.json")
        let sources = try XCTUnwrap(manifest["tensors"] as? [String: [String: Any]])
        let cases = try XCTUnwrap(manifest["cases"] as? [String: [String: Any]])
        XCTAssertEqual(cases.count, 2)
        let dir = try SafetensorsFixtures.temporaryDirectory(self)
        for (caseName, spec) in cases {
            let names = try XCTUnwrap(spec["names"] as? [String])
            let metadata = spec["metadata"] as? [String: String]
            var infos: [TensorInfo] = []
            for name in names {
                let source = try XCTUnwrap(sources[name])
                infos.append(TensorInfo(name: name, dtype: try XCTUnwrap(DType(rawValue: source["dtype"] as? String ?? "")),
                                        shape: try XCTUnwrap(source["shape"] as? [Int])))
            }
            let out = dir.appendingPathComponent("\(caseName).safetensors")
            let writer = try SafetensorsWriter(url: out, tensors: infos, metadata: metadata)
            // Supply data in reverse declaration order: the writer places each tensor itself.
            for info in infos.reversed() {
                let values = try SafetensorsFixtures.floats(sources[info.name]?["f32_bits"])
                try writer.write(info.name, Tensor(shape: info.shape, scalars: values))
            }
            try writer.finish()
            let expected = try bytes(SafetensorsFixtures.url("written_\(caseName).safetensors"))
            let actual = try bytes(out)
            XCTAssertEqual(actual.count, expected.count, caseName)
            if let i = (0..<min(actual.count, expected.count)).first(where: { actual[$0] != expected[$0] }) {
                XCTFail("\(caseName): first difference at byte \(i)")
                let n = min(actual.count, i + 60)
                print(String(decoding: actual[max(0, i - 60)..<n], as: UTF8.self))
            }
        }
    }

    /// `sharded`: a tiny Llama saved by transformers' save_pretrained (5 shards).
    /// `sharded_quirks`: a tensor over the limit, mixed dtypes and names needing JSON escapes,
    /// split by huggingface_hub and indexed the way transformers writes the index.
    func testShardedOutputIsByteIdenticalToTransformers() throws {
        for (fixture, shardCount) in [("sharded", 5), ("sharded_quirks", 4)] {
            let source = try SafetensorsCheckpoint(directory: SafetensorsFixtures.url(fixture))
            let spec = try SafetensorsFixtures.json("\(fixture)/order.json")
            let order = try XCTUnwrap(spec["order"] as? [String])
            let maxShard = try XCTUnwrap(spec["max_shard_size"] as? Int)
            let dir = try SafetensorsFixtures.temporaryDirectory(self)
            let writer = try SafetensorsShardedWriter(directory: dir, tensors: order.compactMap { source.info($0) },
                                                      maxShardSize: maxShard, totalParameters: spec["total_parameters"] as? Int)
            XCTAssertEqual(writer.shardFileNames.count, shardCount, fixture)
            for name in order {
                // Float tensors go through the converting path, the rest raw.
                if let info = source.info(name), info.dtype != .f32 {
                    try writer.write(name, try source.load(name))
                } else {
                    try source.withRawBytes(name) { raw, _ in try writer.writeRaw(name, bytes: raw) }
                }
            }
            // Before finish nothing carries a final name.
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }, [])
            try writer.finish()
            let produced = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
            let expectedNames = try FileManager.default.contentsOfDirectory(atPath: SafetensorsFixtures.url(fixture).path)
                .filter { $0 != "order.json" }.sorted()
            XCTAssertEqual(produced, expectedNames, fixture)
            for name in expectedNames {
                XCTAssertEqual(try bytes(dir.appendingPathComponent(name)),
                               try bytes(SafetensorsFixtures.url("\(fixture)/\(name)")), "\(fixture)/\(name)")
            }
        }
    }

    func testSingleShardWritesModelSafetensorsWithoutIndex() throws {
        let dir = try SafetensorsFixtures.temporaryDirectory(self)
        let infos = [TensorInfo(name: "a", dtype: .f32, shape: [2]), TensorInfo(name: "b", dtype: .bf16, shape: [3])]
        let writer = try SafetensorsShardedWriter(directory: dir, tensors: infos, maxShardSize: 1 << 20)
        try writer.write("a", Tensor(shape: [2], scalars: [1, 2]))
        try writer.write("b", Tensor(shape: [3], scalars: [3, 4, 5]))
        try writer.finish()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["model.safetensors"])
        let checkpoint = try SafetensorsCheckpoint(directory: dir)
        XCTAssertEqual(try checkpoint.load("b").scalars, [3, 4, 5])
        XCTAssertEqual(checkpoint.files[0].metadata, ["format": "pt"])
    }

    func testRoundTripAllFloatDTypes() throws {
        let dir = try SafetensorsFixtures.temporaryDirectory(self)
        var rng = SystemRandomNumberGenerator()
        // [3, 70001] spans several of the writer's 65536-element conversion chunks.
        let shapes: [[Int]] = [[3, 7], [], [0, 5], [2, 3, 4], [3, 70001]]
        var infos: [TensorInfo] = []
        var values: [String: [Float]] = [:]
        for dtype in [DType.f32, .f16, .bf16] {
            for (i, shape) in shapes.enumerated() {
                let name = "t\(i).\(dtype.rawValue)"
                infos.append(TensorInfo(name: name, dtype: dtype, shape: shape))
                // Random mantissas in [-128, 128) built from raw bits (Float.random is slow in debug builds).
                values[name] = (0..<shape.reduce(1, *)).map { _ in
                    let bits = UInt32.random(in: 0...UInt32.max, using: &rng)
                    return Float(bitPattern: (bits & 0x8000_0000) | (UInt32(120 + bits % 7) << 23) | (bits & 0x7F_FFFF))
                }
            }
        }
        let url = dir.appendingPathComponent("round.safetensors")
        let writer = try SafetensorsWriter(url: url, tensors: infos, metadata: ["k": "v", "a": "ü\n\"x\""])
        for info in infos { try writer.write(info.name, Tensor(shape: info.shape, scalars: values[info.name]!)) }
        try writer.finish()
        let file = try SafetensorsFile(url: url)
        XCTAssertEqual(file.metadata, ["k": "v", "a": "ü\n\"x\""])
        XCTAssertEqual(file.entries.map(\.info), writer.orderedTensors)
        for info in infos {
            let loaded = try file.load(info.name)
            XCTAssertEqual(loaded.shape, info.shape)
            let original = values[info.name]!
            // Independent rounding references: Swift's Float16(Float) (round to nearest even) for
            // F16, the neighbour rule for BF16.
            switch info.dtype {
            case .f32: assertBitsEqual(loaded.scalars, original, info.name)
            case .f16: assertBitsEqual(loaded.scalars, original.map { Float(Float16($0)) }, info.name)
            default: assertBitsEqual(loaded.scalars, original.map(bf16Rounded), info.name)
            }
        }
    }

    func testUnfinishedWriterLeavesNothingAtTheFinalPath() throws {
        let dir = try SafetensorsFixtures.temporaryDirectory(self)
        let url = dir.appendingPathComponent("model.safetensors")
        let infos = [TensorInfo(name: "a", dtype: .f32, shape: [2]), TensorInfo(name: "b", dtype: .f16, shape: [2])]
        do {
            let writer = try SafetensorsWriter(url: url, tensors: infos)
            try writer.write("a", Tensor(shape: [2], scalars: [1, 2]))
            XCTAssertThrowsError(try writer.write("b", Tensor(shape: [3], scalars: [1, 2, 3]))) { error in
                XCTAssertTrue("\(error)".hasPrefix("model.safetensors: "), "\(error)")
            }
            XCTAssertThrowsError(try writer.finish()) { error in
                XCTAssertEqual("\(error)", "model.safetensors: tensor 'b' was declared but never written.")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).count, 1, "the hidden partial file")
        }
        // The writer is gone: neither the final file nor its temporary remains.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])

        // An existing finished file is untouched by a failed rewrite.
        let good = try SafetensorsWriter(url: url, tensors: [infos[0]])
        try good.write("a", Tensor(shape: [2], scalars: [5, 6]))
        try good.finish()
        let before = try Data(contentsOf: url)
        do {
            let writer = try SafetensorsWriter(url: url, tensors: infos)
            try writer.write("a", Tensor(shape: [2], scalars: [1, 2]))
            writer.cancel()
            XCTAssertThrowsError(try writer.write("b", Tensor(shape: [2], scalars: [1, 2])))
        }
        XCTAssertEqual(try Data(contentsOf: url), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["model.safetensors"])
    }

    func testInvalidWriteRequestsAreRefused() throws {
        let dir = try SafetensorsFixtures.temporaryDirectory(self)
        let url = dir.appendingPathComponent("x.safetensors")
        XCTAssertThrowsError(try SafetensorsWriter(url: url, tensors: [TensorInfo(name: "a", dtype: .f32, shape: [1]),
                                                                    TensorInfo(name: "a", dtype: .f16, shape: [1])]))
        XCTAssertThrowsError(try SafetensorsWriter(url: url, tensors: [TensorInfo(name: "n", dtype: .f32, shape: [-1])]))
        let writer = try SafetensorsWriter(url: url, tensors: [TensorInfo(name: "i", dtype: .i64, shape: [1])])
        XCTAssertThrowsError(try writer.write("i", Tensor(shape: [1], scalars: [1])))
        XCTAssertThrowsError(try writer.write("zzz", Tensor(shape: [1], scalars: [1])))
        var one = Int64(-7).littleEndian
        try withUnsafeBytes(of: &one) { try writer.writeRaw("i", bytes: $0) }
        XCTAssertThrowsError(try withUnsafeBytes(of: &one) { try writer.writeRaw("i", bytes: $0) }, "written twice")
        try writer.finish()
        XCTAssertEqual(try SafetensorsFile(url: url).withRawBytes("i") { raw, _ in raw.loadUnaligned(as: Int64.self) }, -7)
        XCTAssertThrowsError(try SafetensorsWriter(url: dir.appendingPathComponent("missing-dir/y.safetensors"), tensors: [])) {
            XCTAssertTrue("\($0)".hasPrefix("y.safetensors: could not be written"), "\($0)")
        }
    }
}
