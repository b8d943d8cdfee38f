import Foundation
import XCTest
@testable import ReAdapt

/// Shared helpers for the Safetensors*Tests files.
enum SafetensorsFixtures {
    static var directory: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("safetensors")
    }

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: url(name))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Float32 values from bit patterns stored by the fixture generator.
    static func floats(_ bits: Any?) throws -> [Float] {
        let numbers = try XCTUnwrap(bits as? [NSNumber])
        return numbers.map { Float(bitPattern: $0.uint32Value) }
    }

    /// A fresh empty directory under the temporary directory, removed by the test case's teardown.
    static func temporaryDirectory(_ testCase: XCTestCase) throws -> URL {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("readapt-safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        testCase.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }
}

/// Asserts two Float arrays are bit-for-bit equal, reporting the first difference.
func assertBitsEqual(_ actual: [Float], _ expected: [Float], _ context: String,
                     file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(context): count", file: file, line: line)
    for (i, (a, e)) in zip(actual, expected).enumerated() where a.bitPattern != e.bitPattern {
        XCTFail("\(context): element \(i) is \(a) (0x\(String(a.bitPattern, radix: 16))), "
                + "expected \(e) (0x\(String(e.bitPattern, radix: 16)))", file: file, line: line)
        return
    }
}

/// Independent reference for Float32 → BF16 → Float32 with round-to-nearest-even: pick the nearer
/// of the two BF16 values around `x` by its dropped low 16 bits, ties to the even one.
func bf16Rounded(_ x: Float) -> Float {
    let down = x.bitPattern & 0xFFFF_0000
    let rest = x.bitPattern & 0xFFFF
    let up = rest > 0x8000 || (rest == 0x8000 && (down >> 16) & 1 == 1)
    return Float(bitPattern: up ? down &+ 0x10000 : down)
}
