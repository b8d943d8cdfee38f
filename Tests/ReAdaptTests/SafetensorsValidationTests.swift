import Foundation
import XCTest
@testable import ReAdapt

/// Hand-made corrupt files: each must be refused with the right error case and a message that
/// names the file, never a crash.
final class SafetensorsValidationTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = try SafetensorsFixtures.temporaryDirectory(self)
    }

    /// Writes `x.safetensors` with the given header text (length prefix computed unless given)
    /// followed by `dataBytes` zero bytes.
    private func file(_ header: String, dataBytes: Int = 0, length: UInt64? = nil,
                      name: String = "x.safetensors") throws -> URL {
        var bytes: [UInt8] = []
        let json = Array(header.utf8)
        withUnsafeBytes(of: (length ?? UInt64(json.count)).littleEndian) { bytes += $0 }
        bytes += json + [UInt8](repeating: 0, count: dataBytes)
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    private func expect(_ url: URL, _ expected: SafetensorsError, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafetensorsFile(url: url), file: file, line: line) { error in
            XCTAssertEqual(error as? SafetensorsError, expected, file: file, line: line)
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix(url.lastPathComponent + ": "), "message must name the file: \(text)", file: file, line: line)
            XCTAssertTrue(text.hasSuffix("."), text, file: file, line: line)
            XCTAssertFalse(text.dropLast().contains("\n"), "one line: \(text)", file: file, line: line)
        }
    }

    private func entry(_ name: String = "x", dtype: String = "F32", shape: String = "[2,2]",
                       offsets: String = "[0,16]") -> String {
        #""\#(name)":{"dtype":"\#(dtype)","shape":\#(shape),"data_offsets":\#(offsets)}"#
    }

    func testPrefixFaults() throws {
        let tiny = dir.appendingPathComponent("tiny.safetensors")
        try Data([1, 2, 3]).write(to: tiny)
        expect(tiny, .fileTooSmall(file: "tiny.safetensors", size: 3))
        expect(try file("{}", length: UInt64.max), .headerTooLarge(file: "x.safetensors", length: UInt64.max, limit: 100_000_000))
        expect(try file("{}", length: 100_000_001), .headerTooLarge(file: "x.safetensors", length: 100_000_001, limit: 100_000_000))
        expect(try file("{}", length: 3), .headerBeyondFile(file: "x.safetensors", length: 3, fileSize: 10))
        XCTAssertThrowsError(try SafetensorsFile(url: dir.appendingPathComponent("absent.safetensors"))) {
            guard case .cannotOpen(let name, _)? = $0 as? SafetensorsError else { return XCTFail("\($0)") }
            XCTAssertEqual(name, "absent.safetensors")
        }
    }

    func testHeaderSyntaxFaults() throws {
        let bad = dir.appendingPathComponent("utf8.safetensors")
        var bytes: [UInt8] = [4, 0, 0, 0, 0, 0, 0, 0]
        bytes += [UInt8(ascii: "{"), 0xFF, 0xFE, UInt8(ascii: "}")]
        try Data(bytes).write(to: bad)
        expect(bad, .headerNotUTF8(file: "utf8.safetensors"))
        for text in ["{", "{\"x\":}", "", "{\"a\":1}}", "{'a':1}", "{\"a\":1,}"] {
            XCTAssertThrowsError(try SafetensorsFile(url: try file(text))) {
                guard case .invalidJSON(let name, _)? = $0 as? SafetensorsError else { return XCTFail("\(text): \($0)") }
                XCTAssertEqual(name, "x.safetensors")
            }
        }
        expect(try file("[1,2]"), .headerNotObject(file: "x.safetensors"))
        expect(try file("\"s\""), .headerNotObject(file: "x.safetensors"))
        // A tensor listed twice is refused rather than silently shadowed.
        XCTAssertThrowsError(try SafetensorsFile(url: try file("{\(entry()),\(entry())}", dataBytes: 16))) {
            guard case .invalidJSON(_, let reason)? = $0 as? SafetensorsError else { return XCTFail("\($0)") }
            XCTAssertTrue(reason.contains("duplicate key"), reason)
        }
        // Deep nesting is an error, not a stack overflow.
        let deep = String(repeating: "[", count: 100_000)
        XCTAssertThrowsError(try SafetensorsFile(url: try file("{\"__metadata__\":\(deep)}")))
    }

    func testEntryFaults() throws {
        expect(try file("{\(entry(dtype: "F128"))}", dataBytes: 16),
               .unknownDType(file: "x.safetensors", tensor: "x", dtype: "F128"))
        let mismatch = try file("{\(entry(offsets: "[0,12]"))}", dataBytes: 12)
        expect(mismatch, .byteLengthMismatch(file: "x.safetensors", tensor: "x", bytes: 12, shape: [2, 2], dtype: .f32, needed: 16))
        XCTAssertEqual("\(SafetensorsError.byteLengthMismatch(file: "model.safetensors", tensor: "x", bytes: 12, shape: [2, 2], dtype: .f32, needed: 16))",
                       "model.safetensors: tensor 'x' has 12 bytes but shape [2, 2] of F32 needs 16.")
        for shape in ["[-2,2]", "[2.0,2]", "[\"2\",2]", "[2,null]", "[1e1]", "{}"] {
            XCTAssertThrowsError(try SafetensorsFile(url: try file("{\(entry(shape: shape))}", dataBytes: 16))) {
                guard case .invalidShape(let name, let tensor, _)? = $0 as? SafetensorsError else { return XCTFail("\(shape): \($0)") }
                XCTAssertEqual([name, tensor], ["x.safetensors", "x"])
            }
        }
        for offsets in ["[16,0]", "[0]", "[0,16,32]", "[-1,15]", "[0.0,16]", "\"0,16\""] {
            XCTAssertThrowsError(try SafetensorsFile(url: try file("{\(entry(offsets: offsets))}", dataBytes: 16))) {
                guard case .invalidOffsets(let name, let tensor, _)? = $0 as? SafetensorsError else { return XCTFail("\(offsets): \($0)") }
                XCTAssertEqual([name, tensor], ["x.safetensors", "x"])
            }
        }
        expect(try file("{\(entry(shape: "[4294967296,4294967296]", offsets: "[0,16]"))}", dataBytes: 16),
               .sizeOverflow(file: "x.safetensors", tensor: "x"))
        expect(try file("{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", dataBytes: 4),
               .invalidEntry(file: "x.safetensors", tensor: "x", reason: "has no \"data_offsets\" field"))
        expect(try file("{\"x\":[1]}"), .invalidEntry(file: "x.safetensors", tensor: "x", reason: "is an array, not an object"))
        expect(try file("{\"x\":{\"dtype\":7,\"shape\":[],\"data_offsets\":[0,4]}}", dataBytes: 4),
               .invalidEntry(file: "x.safetensors", tensor: "x", reason: "has a dtype that is not a string"))
    }

    func testLayoutFaults() throws {
        expect(try file("{\(entry())}", dataBytes: 8), .offsetsOutOfRange(file: "x.safetensors", tensor: "x", end: 16, dataSize: 8))
        expect(try file("{\(entry("a")),\(entry("b", offsets: "[8,24]"))}", dataBytes: 24),
               .overlappingTensors(file: "x.safetensors", first: "a", second: "b"))
        // An empty tensor placed inside another tensor's bytes also overlaps.
        expect(try file("{\(entry("a")),\(entry("e", shape: "[0]", offsets: "[4,4]"))}", dataBytes: 16),
               .overlappingTensors(file: "x.safetensors", first: "a", second: "e"))
        expect(try file("{\(entry("a")),\(entry("b", offsets: "[20,36]"))}", dataBytes: 36),
               .gapInData(file: "x.safetensors", from: 16, to: 20))
        expect(try file("{\(entry())}", dataBytes: 20), .gapInData(file: "x.safetensors", from: 16, to: 20))
        expect(try file("{\(entry(offsets: "[4,20]"))}", dataBytes: 20), .gapInData(file: "x.safetensors", from: 0, to: 4))
        expect(try file("{}", dataBytes: 1), .gapInData(file: "x.safetensors", from: 0, to: 1))
        // Valid edge cases the reference accepts: no tensors, empty tensors sharing an offset.
        XCTAssertEqual(try SafetensorsFile(url: try file("{}")).entries, [])
        let empties = try SafetensorsFile(url: try file(
            "{\(entry("a")),\(entry("e", shape: "[0,3]", offsets: "[16,16]")),\(entry("f", shape: "[0]", offsets: "[16,16]"))}", dataBytes: 16))
        XCTAssertEqual(empties.tensorNames, ["a", "e", "f"])
    }

    func testMetadataFaults() throws {
        expect(try file("{\"__metadata__\":{\"a\":1}}"),
               .invalidMetadata(file: "x.safetensors", reason: "key 'a' holds the number 1"))
        expect(try file("{\"__metadata__\":[\"a\"]}"), .invalidMetadata(file: "x.safetensors", reason: "it is an array"))
        expect(try file("{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}"),
               .invalidMetadata(file: "x.safetensors", reason: "key 'a' holds an object"))
        let ok = try SafetensorsFile(url: try file("{\"__metadata__\":{\"a\":\"\\u00e9\\n\\ud83d\\ude00\"}}"))
        XCTAssertEqual(ok.metadata, ["a": "é\n😀"])
    }

    /// Every truncation of a valid file and random single-byte changes to its header are either
    /// refused with a SafetensorsError or (for harmless changes) accepted — never a crash. The
    /// validator runs on in-memory bytes (exactly what `SafetensorsFile` passes it); a few cases
    /// also go through real files.
    func testTruncationsAndHeaderBitFlipsNeverCrash() throws {
        let original = [UInt8](try Data(contentsOf: SafetensorsFixtures.url("values.safetensors")))
        func validate(_ bytes: [UInt8]) throws {
            _ = try bytes.withUnsafeBytes { try SafetensorsHeader.parse($0, fileName: "cut.safetensors") }
        }
        XCTAssertNoThrow(try validate(original))
        for length in 0..<original.count {
            XCTAssertThrowsError(try validate(Array(original[0..<length])), "length \(length)") {
                XCTAssertTrue($0 is SafetensorsError)
            }
        }
        let url = dir.appendingPathComponent("cut.safetensors")
        for length in [0, 7, 8, 100, original.count - 1] {
            try Data(original[0..<length]).write(to: url)
            XCTAssertThrowsError(try SafetensorsFile(url: url), "length \(length)") {
                XCTAssertTrue("\($0)".hasPrefix("cut.safetensors: "), "\($0)")
            }
        }
        let headerEnd = 8 + Int(original[0]) + Int(original[1]) << 8
        var rng = SystemRandomNumberGenerator()
        var accepted = 0
        for _ in 0..<2000 {
            var bytes = original
            let i = Int.random(in: 0..<headerEnd, using: &rng)
            bytes[i] = UInt8.random(in: 0...255, using: &rng)
            do {
                try validate(bytes)
                accepted += 1
            } catch {
                XCTAssertTrue(error is SafetensorsError, "\(error)")
            }
        }
        XCTAssertLessThan(accepted, 2000, "some changes must be detected")
    }

    func testCheckpointFaults() throws {
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        XCTAssertThrowsError(try SafetensorsCheckpoint(directory: empty)) {
            XCTAssertEqual($0 as? SafetensorsError, .noCheckpoint(directory: empty.path))
        }
        let sharded = dir.appendingPathComponent("sharded")
        try FileManager.default.createDirectory(at: sharded, withIntermediateDirectories: true)
        func shard(_ name: String, _ tensors: [String]) throws {
            let w = try SafetensorsWriter(url: sharded.appendingPathComponent(name),
                                          tensors: tensors.map { TensorInfo(name: $0, dtype: .f32, shape: [1]) })
            for t in tensors { try w.write(t, Tensor(shape: [1], scalars: [1])) }
            try w.finish()
        }
        func index(_ map: String) throws {
            try Data("{\"metadata\":{\"total_size\":8},\"weight_map\":{\(map)}}".utf8)
                .write(to: sharded.appendingPathComponent("model.safetensors.index.json"))
        }
        try shard("s1.safetensors", ["a", "b"])
        try shard("s2.safetensors", ["c"])
        try index("\"a\":\"s1.safetensors\",\"b\":\"s1.safetensors\",\"c\":\"s2.safetensors\"")
        XCTAssertEqual(try SafetensorsCheckpoint(directory: sharded).tensorNames, ["a", "b", "c"])

        try index("\"a\":\"s1.safetensors\",\"c\":\"s3.safetensors\"")
        XCTAssertThrowsError(try SafetensorsCheckpoint(directory: sharded)) {
            XCTAssertEqual($0 as? SafetensorsError, .shardMissing(index: "model.safetensors.index.json", shard: "s3.safetensors"))
        }
        try index("\"a\":\"s1.safetensors\",\"c\":\"s1.safetensors\"")
        XCTAssertThrowsError(try SafetensorsCheckpoint(directory: sharded)) {
            XCTAssertEqual($0 as? SafetensorsError,
                           .shardLacksTensor(index: "model.safetensors.index.json", shard: "s1.safetensors", tensor: "c"))
            XCTAssertTrue("\($0)".hasPrefix("model.safetensors.index.json: "))
        }
        try shard("s3.safetensors", ["b"])
        try index("\"a\":\"s1.safetensors\",\"b\":\"s3.safetensors\"")
        XCTAssertThrowsError(try SafetensorsCheckpoint(directory: sharded)) {
            XCTAssertEqual($0 as? SafetensorsError,
                           .duplicateTensor(tensor: "b", firstFile: "s1.safetensors", secondFile: "s3.safetensors"))
        }
        for text in ["[]", "{\"weight_map\":[]}", "{\"weight_map\":{\"a\":1}}", "{\"metadata\":{\"total_size\":-1},\"weight_map\":{}}",
                     "{\"weight_map\":{\"a\":\"../s1.safetensors\"}}", "{\"weight_map\":{\"a\":\"/etc/passwd\"}}", "{"] {
            try Data(text.utf8).write(to: sharded.appendingPathComponent("model.safetensors.index.json"))
            XCTAssertThrowsError(try SafetensorsCheckpoint(directory: sharded), text) {
                guard case .invalidIndex(let name, _)? = $0 as? SafetensorsError else { return XCTFail("\(text): \($0)") }
                XCTAssertEqual(name, "model.safetensors.index.json")
            }
        }
        // A shard that is itself corrupt reports the shard's name.
        try index("\"a\":\"s1.safetensors\"")
        try Data([1, 2]).write(to: sharded.appendingPathComponent("s1.safetensors"))
        XCTAssertThrowsError(try SafetensorsCheckpoint(directory: sharded)) {
            XCTAssertEqual($0 as? SafetensorsError, .fileTooSmall(file: "s1.safetensors", size: 2))
        }
    }
}
