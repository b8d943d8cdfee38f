import Foundation
import XCTest
@testable import ReAdapt

/// `readapt train` as a user runs it: flags, errors, the --json summary and Ctrl-C.
final class TrainerCommandLineTests: XCTestCase {
    var model: String { TrainerFixtures.model.path }

    func readapt(_ arguments: [String]) throws -> ReadaptProcess.Outcome {
        try ReadaptProcess.run(arguments, testCase: Self.self)
    }

    func assertFails(_ arguments: [String], mentioning fragment: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let outcome = try readapt(["train"] + arguments)
        XCTAssertNotEqual(outcome.status, 0, "exit status", file: file, line: line)
        XCTAssertEqual(outcome.stdout, "", file: file, line: line)
        let errorLines = outcome.stderr.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
        XCTAssertEqual(errorLines.count, 1, outcome.stderr, file: file, line: line)
        XCTAssertTrue(outcome.stderr.contains(fragment), "\(outcome.stderr) lacks \(fragment)", file: file, line: line)
    }

    func testEveryBadFlagIsOneSentence() throws {
        let dir = try TrainerFixtures.temporaryDirectory(self)
        let data = try TrainerFixtures.repetitiveText(in: dir).path
        let out = dir.appendingPathComponent("out").path
        let base = ["--model", model, "--data", data, "--output", out, "--batch-size", "2", "--seq-len", "16"]
        let cases: [([String], String)] = [
            (["--method", "lora", "--epochs", "1", "--steps", "2"], "Give --epochs or --steps, not both."),
            (["--method", "full", "--rank", "8"], "--rank applies only to --method lora or dora."),
            (["--method", "full", "--targets", "q_proj"], "--targets applies only to --method lora or dora."),
            (["--method", "lora", "--targets", "q_proj,wq"], "The LoRA target 'wq' is not one of all-linear"),
            (["--method", "lora", "--rank", "0"], "The LoRA rank must be a positive integer, not 0."),
            (["--method", "lora", "--alpha=-1"], "The LoRA alpha must be a positive number"),
            (["--method", "lora", "--dropout", "1"], "The LoRA dropout must be in [0, 1)"),
            (["--method", "qlora"], "qlora"),
            (["--method", "lora", "--schedule", "exponential"], "exponential"),
            (["--method", "lora", "--lr", "0"], "--lr must be a positive number"),
            (["--method", "lora", "--steps", "0"], "--steps must be at least 1, not 0."),
            (["--method", "lora", "--epochs", "0"], "--epochs must be at least 1, not 0."),
            (["--method", "lora", "--warmup=-1"], "--warmup must be 0 or more steps"),
            (["--method", "lora", "--grad-accum", "0"], "--grad-accum must be at least 1, not 0."),
            (["--method", "lora", "--weight-decay=-0.1"], "--weight-decay must be a finite number >= 0"),
            (["--method", "lora", "--max-grad-norm=-1"], "--max-grad-norm must be a finite number >= 0"),
            (["--method", "lora", "--eval-every=-1"], "--eval-every must be 0 or more steps"),
            (["--method", "lora", "--save-every=-2"], "--save-every must be 0 or more steps"),
            (["--method", "lora", "--save-total-limit", "0"], "--save-total-limit must be at least 1, not 0."),
            (["--method", "lora", "--max-memory", "lots"], "--max-memory must be a size such as 8GB"),
            (["--method", "lora", "--init", "random"], "--init random trains a model from scratch, which needs --method full"),
            (["--method", "lora", "--init", "zeros"], "zeros"),
        ]
        for (arguments, fragment) in cases { try assertFails(base + arguments, mentioning: fragment) }
        // Flags the parser checks before ours.
        try assertFails(["--model", model, "--data", data, "--output", out, "--method", "lora", "--seq-len", "1"],
                        mentioning: "--seq-len must be at least 2 tokens, not 1.")
        try assertFails(["--model", model, "--data", data, "--output", out, "--method", "lora", "--batch-size", "0"],
                        mentioning: "--batch-size must be at least 1, not 0.")
        try assertFails(["--model", model, "--output", out, "--method", "lora"], mentioning: "--data needs at least one file.")
        // Errors found while running: missing files, a batch larger than the data, memory, resume.
        try assertFails(base + ["--method", "lora", "--data", "/nonexistent/train.txt"], mentioning: "/nonexistent/train.txt")
        try assertFails(["--model", "/nonexistent/model"] + base.dropFirst(2) + ["--method", "lora"], mentioning: "/nonexistent/model")
        try assertFails(base + ["--method", "lora", "--batch-size", "500"], mentioning: "A batch size of 500 does not fit")
        try assertFails(base + ["--method", "full", "--max-memory", "1MB"], mentioning: "Training would need about ")
        try assertFails(base + ["--method", "lora", "--resume", dir.path], mentioning: "holds no training checkpoint")
        try assertFails(base + ["--method", "lora", "--val", "/nonexistent/val.txt"], mentioning: "/nonexistent/val.txt")
    }

    func testOutputThatHoldsSomethingElseIsRefused() throws {
        let dir = try TrainerFixtures.temporaryDirectory(self)
        let data = try TrainerFixtures.repetitiveText(in: dir).path
        try assertFails(["--model", model, "--data", data, "--output", dir.path, "--method", "lora"],
                        mentioning: "\(dir.path) is not empty; pass --overwrite")
    }

    /// `--json`: one object with the documented keys, after the final adapter is written.
    func testJSONSummary() throws {
        let dir = try TrainerFixtures.temporaryDirectory(self)
        let data = try TrainerFixtures.repetitiveText(in: dir).path
        let out = dir.appendingPathComponent("out").path
        let outcome = try readapt(["train", "--model", model, "--data", data, "--val", data, "--output", out, "--method", "lora",
                                   "--rank", "4", "--alpha", "8", "--batch-size", "2", "--seq-len", "16", "--steps", "3", "--json"])
        XCTAssertTrue(outcome.stderr.contains("Memory estimate: "), outcome.stderr)
        XCTAssertTrue(outcome.stderr.contains("step 3/3  loss "), outcome.stderr)
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["method", "steps", "tokens", "trained_tokens", "tokens_per_second", "final_train_loss",
                                          "final_validation_loss", "output", "checkpoint", "elapsed_seconds", "resumed_from_step"])
        XCTAssertEqual(object["steps"] as? Int, 3)
        XCTAssertEqual(object["tokens"] as? Int, 3 * 2 * 16)
        XCTAssertEqual(object["output"] as? String, out)
        XCTAssertGreaterThan(try XCTUnwrap(object["tokens_per_second"] as? Double), 0)
        XCTAssertNotNil(object["final_validation_loss"] as? Double)
    }

    /// SIGINT and SIGTERM: the step in progress finishes, a checkpoint is saved, the exit is
    /// non-zero with one error sentence naming it, and `--resume` continues from it.
    func testSignalSavesACheckpoint() throws {
        for signal in [SIGINT, SIGTERM] {
            let dir = try TrainerFixtures.temporaryDirectory(self)
            let data = try TrainerFixtures.repetitiveText(in: dir).path
            let out = dir.appendingPathComponent("out")
            let arguments = ["train", "--model", model, "--data", data, "--output", out.path, "--method", "full",
                             "--batch-size", "2", "--seq-len", "16", "--steps", "100000"]
            let (status, stderr) = try runAndSignal(arguments, signal: signal, after: "step 2/100000")
            let name = signal == SIGINT ? "SIGINT" : "SIGTERM"
            XCTAssertNotEqual(status, 0, stderr)
            XCTAssertTrue(stderr.contains("\(name) received: finishing the current step"), stderr)
            let errorLines = stderr.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
            XCTAssertEqual(errorLines.count, 1, stderr)
            let line = try XCTUnwrap(errorLines.first)
            XCTAssertTrue(line.hasPrefix("Error: Training stopped by \(name) after step "), String(line))
            let checkpoint = try XCTUnwrap(TrainingCheckpoint.list(in: out).last)
            XCTAssertTrue(line.contains("a checkpoint was saved to \(checkpoint.url.path)"), String(line))
            let state = try TrainingCheckpoint.readState(checkpoint.url)
            XCTAssertEqual(state.globalStep, checkpoint.step)
            XCTAssertGreaterThanOrEqual(checkpoint.step, 2)
            // Resuming with the same flags continues after that step (interrupted again at once).
            let (_, resumed) = try runAndSignal(arguments + ["--resume", out.path], signal: signal,
                                                after: "step \(checkpoint.step + 1)/100000")
            XCTAssertTrue(resumed.contains("at step \(checkpoint.step))"), resumed)
        }
    }

    /// Starts readapt, sends `signal` once stderr contains `marker`, and returns status and stderr.
    func runAndSignal(_ arguments: [String], signal: Int32, after marker: String) throws -> (Int32, String) {
        var products = Bundle(for: Self.self).bundleURL
        if products.pathExtension == "xctest" { products.deleteLastPathComponent() }
        let process = Process()
        process.executableURL = products.appendingPathComponent("readapt")
        process.arguments = arguments
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        final class Box: @unchecked Sendable { var text = ""; let lock = NSLock(); var sent = false }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        try process.run()
        let pid = process.processIdentifier
        DispatchQueue.global().async {
            while true {
                let chunk = err.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                box.lock.lock()
                box.text += String(decoding: chunk, as: UTF8.self)
                if !box.sent, box.text.contains(marker) { box.sent = true; kill(pid, signal) }
                box.lock.unlock()
            }
            done.signal()
        }
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { process.terminate(); XCTFail("readapt did not stop after \(signal)") }
        process.waitUntilExit()
        done.wait()
        box.lock.lock(); defer { box.lock.unlock() }
        XCTAssertTrue(box.sent, "never saw \(marker): \(box.text)")
        return (process.terminationStatus, box.text)
    }
}
