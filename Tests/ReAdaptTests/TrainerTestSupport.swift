import Foundation
import XCTest
@testable import ReAdapt

/// Shared setup of the Trainer* tests: the tiny example model (Llama, hidden 128, 4 layers,
/// vocab 512, with tokenizer.json) and repetitive text files in a per-test temporary directory.
enum TrainerFixtures {
    static var model: URL { ExampleModelTests.directory }

    /// A fresh directory removed at the end of the test.
    static func temporaryDirectory(_ testCase: XCTestCase) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("readapt-trainer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        testCase.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// A text file of `repeats` copies of a short paragraph (new to the model, so its loss is high
    /// at first and falls fast).
    static func repetitiveText(in directory: URL, name: String = "train.txt", repeats: Int = 40) throws -> URL {
        let paragraph = "The lighthouse keeper counts seven gulls every morning and writes the number in a blue book. "
        let url = directory.appendingPathComponent(name)
        try String(repeating: paragraph, count: repeats).write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// Small, fast options: 2 sequences of 16 tokens per micro-batch.
    static func options(_ method: TrainerOptions.Method, steps: Int = 6) -> TrainerOptions {
        var o = TrainerOptions(method: method)
        o.steps = steps
        o.batchSize = 2
        o.sequenceLength = 16
        o.learningRate = 3e-3
        o.warmupSteps = 2
        o.rank = 4
        o.alpha = 8
        o.dropout = 0.1
        o.weightDecay = 0.01
        return o
    }

    /// A trainer with memory unchecked against the machine (tests are tiny).
    static func trainer(output: URL, data: [URL], options: TrainerOptions, validation: URL? = nil,
                        resume: URL? = nil) -> Trainer {
        let trainer = Trainer(paths: TrainerPaths(model: model, data: data, validation: validation, output: output, resume: resume),
                              options: options)
        trainer.memoryLimit = 1 << 40
        return trainer
    }

    /// The losses of a run's log file, in order.
    static func loggedRecords(_ output: URL) throws -> [[String: Any]] {
        let text = try String(contentsOf: output.appendingPathComponent(TrainingLog.logFileName), encoding: .utf8)
        return try text.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }
}
