import Foundation
import XCTest

/// Runs the built `readapt` executable (built next to the test bundle by `swift test`).
struct ReadaptProcess {
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs readapt with `arguments` and `input` on stdin; both output pipes are drained at once
    /// so a chatty child can never stall on a full pipe.
    static func run(_ arguments: [String], input: String = "", testCase: AnyClass) throws -> Outcome {
        var products = Bundle(for: testCase).bundleURL
        if products.pathExtension == "xctest" { products.deleteLastPathComponent() }
        let executable = products.appendingPathComponent("readapt")
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            XCTFail("readapt is not built next to the tests (\(executable.path))")
            throw CocoaError(.fileNoSuchFile)
        }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let stdin = Pipe(), out = Pipe(), err = Pipe()
        process.standardInput = stdin
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // The inputs are far below a pipe's buffer, so this write never waits for the child.
        if !input.isEmpty { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        final class Box: @unchecked Sendable { var data = Data() }
        let stderrBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { stderrBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
                       stderr: String(decoding: stderrBox.data, as: UTF8.self))
    }
}
