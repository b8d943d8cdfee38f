import Foundation
import XCTest
@testable import ReAdapt

/// `load` gives a tensor's file pages back after converting it: values stay exactly right however
/// often they are read again, and the mapping's resident size (from /proc/self/smaps) falls back
/// from the tensor's size to a few pages.
final class SafetensorsPageReleaseTests: XCTestCase {
    /// 2^21 BF16 values (4 MiB) between two tiny tensors, so the big one starts and ends inside
    /// pages it shares with its neighbours.
    static let bigCount = 1 << 21

    /// BF16 bit patterns with every exponent and many mantissas (NaNs and infinities included).
    static let bigBits: [UInt16] = (0..<bigCount).map { UInt16(truncatingIfNeeded: ($0 &* 40503) >> 3 ^ $0) }

    static let small: [Float] = [1.5, -2, 3.25]
    static let tail: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000]  // F16: 1, -2, 65504, 2^-24, -0

    /// Writes the file by hand (header JSON padded to 8 bytes, then the data) so the layout is known.
    func makeFile() throws -> URL {
        let bigBytes = 2 * Self.bigCount
        let header = """
        {"small":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},\
        "big":{"dtype":"BF16","shape":[\(Self.bigCount)],"data_offsets":[12,\(12 + bigBytes)]},\
        "tail":{"dtype":"F16","shape":[5],"data_offsets":[\(12 + bigBytes),\(22 + bigBytes)]}}
        """
        var json = Array(header.utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: json)
        Self.small.withUnsafeBytes { data.append(contentsOf: $0) }
        Self.bigBits.withUnsafeBytes { data.append(contentsOf: $0) }
        Self.tail.withUnsafeBytes { data.append(contentsOf: $0) }
        let url = try SafetensorsFixtures.temporaryDirectory(self).appendingPathComponent("pages.safetensors")
        try data.write(to: url)
        return url
    }

    /// Resident kilobytes of this process's mappings of `path`, or nil where smaps is unavailable.
    func residentKB(of path: String) -> Int? {
        // Read to EOF: procfs files report size 0, so size-based readers see nothing.
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/smaps") else { return nil }
        defer { try? handle.close() }
        let smaps = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        var total = 0, inMapping = false, found = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), !first.hasSuffix(":") {
                inMapping = fields.count >= 6 && fields[5...].joined(separator: " ") == path
                found = found || inMapping
            } else if inMapping, fields.first == "Rss:", fields.count >= 2, let kb = Int(fields[1]) {
                total += kb
            }
        }
        return found ? total : nil
    }

    func testLoadReleasesPagesAndValuesSurviveRereading() throws {
        let url = try makeFile()
        let file = try SafetensorsFile(url: url)
        let expected = Self.bigBits.map { Float(bitPattern: UInt32($0) << 16) }
        let bigKB = 2 * Self.bigCount / 1024
        let path = url.resolvingSymlinksInPath().path

        // Touch every byte through withRawBytes: the pages stay resident (the measure works).
        let checksum = try file.withRawBytes("big") { raw, _ in raw.reduce(0) { $0 &+ Int($1) } }
        XCTAssertEqual(checksum, Self.bigBits.withUnsafeBytes { $0.reduce(0) { $0 &+ Int($1) } })
        #if os(Linux)
        let touched = try XCTUnwrap(residentKB(of: path), "mapping not found in /proc/self/smaps")
        XCTAssertGreaterThan(touched, bigKB / 2, "withRawBytes keeps what it read resident")
        #endif

        for round in 0..<3 {
            let tensor = try file.load("big")
            XCTAssertEqual(tensor.shape, [Self.bigCount])
            assertBitsEqual(tensor.scalars, expected, "load round \(round)")
            #if os(Linux)
            let resident = try XCTUnwrap(residentKB(of: path))
            XCTAssertLessThan(resident, 64, "round \(round): \(resident) KB of a \(bigKB) KB tensor still resident")
            #endif
        }

        // Into caller storage, and the raw bytes again after their pages were dropped.
        var into = [Float](repeating: 0, count: Self.bigCount)
        try into.withUnsafeMutableBufferPointer { try file.load("big", into: $0) }
        assertBitsEqual(into, expected, "load(into:)")
        #if os(Linux)
        XCTAssertLessThan(try XCTUnwrap(residentKB(of: path)), 64)
        #endif
        let raw = try file.withRawBytes("big") { raw, _ in Array(raw.bindMemory(to: UInt16.self)) }
        XCTAssertEqual(raw, Self.bigBits)

        // Neighbours sharing the boundary pages are intact.
        assertBitsEqual(try file.load("small").scalars, Self.small, "small")
        assertBitsEqual(try file.load("tail").scalars, [1, -2, 65504, 0x1p-24, -0.0], "tail")
        file.releasePages("no such tensor")  // ignored
    }
}
