import Foundation
import XCTest
@testable import ReAdapt

enum GGUFFixtures {
    static func url(_ name: String) throws -> URL {
        let root = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return root.appendingPathComponent("gguf").appendingPathComponent(name)
    }
}

/// Writes GGUF bytes field by field, so tests can build well-formed files and then break exactly
/// one thing.
struct GGUFBuilder {
    struct TensorEntry { var name: String; var dims: [UInt64]; var type: UInt32; var offset: UInt64 }
    var magic: [UInt8] = Array("GGUF".utf8)
    var version: UInt32 = 3
    var metadata: [(key: String, type: UInt32, payload: [UInt8])] = []
    var tensors: [TensorEntry] = []
    var dataBytes = 0
    var alignment = 32
    var tensorCountOverride: UInt64?
    var keyCountOverride: UInt64?

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    static func string(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }

    mutating func addString(_ key: String, _ value: String) { metadata.append((key, 8, GGUFBuilder.string(value))) }
    mutating func addUInt32(_ key: String, _ value: UInt32) { metadata.append((key, 4, GGUFBuilder.le(value))) }

    /// A small valid file: one F32 [4, 2] tensor and one Q8_0 [32] tensor.
    static func valid() -> GGUFBuilder {
        var b = GGUFBuilder()
        b.addString("general.architecture", "llama")
        b.tensors = [TensorEntry(name: "a", dims: [4, 2], type: 0, offset: 0),
                     TensorEntry(name: "b", dims: [32], type: 8, offset: 32)]
        b.dataBytes = 32 + 34
        return b
    }

    func bytes() -> [UInt8] {
        var out = magic + GGUFBuilder.le(version)
        out += GGUFBuilder.le(tensorCountOverride ?? UInt64(tensors.count))
        out += GGUFBuilder.le(keyCountOverride ?? UInt64(metadata.count))
        for kv in metadata { out += GGUFBuilder.string(kv.key) + GGUFBuilder.le(kv.type) + kv.payload }
        for t in tensors {
            out += GGUFBuilder.string(t.name) + GGUFBuilder.le(UInt32(t.dims.count))
            for d in t.dims { out += GGUFBuilder.le(d) }
            out += GGUFBuilder.le(t.type) + GGUFBuilder.le(t.offset)
        }
        while out.count % alignment != 0 { out.append(0) }
        out += (0..<dataBytes).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        return out
    }
}

/// Writes `bytes` to a fresh temporary file named `name`.
func temporaryFile(_ bytes: [UInt8], name: String = "test.gguf") throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("readapt-gguf-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let url = dir.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url
}

/// Asserts that opening `bytes` throws a GGUFError whose description names the file, and returns it.
@discardableResult
func assertGGUFFails(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> GGUFError? {
    let url = try temporaryFile(bytes)
    defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
    do {
        _ = try GGUFFile(url: url)
        XCTFail("expected a GGUFError", file: file, line: line)
        return nil
    } catch let error as GGUFError {
        XCTAssertTrue(error.description.hasPrefix("test.gguf: "), error.description, file: file, line: line)
        XCTAssertTrue(error.description.hasSuffix("."), error.description, file: file, line: line)
        return error
    }
}
