import Foundation
import XCTest
@testable import ReAdapt

/// `TrainingBenchmark` (behind `readapt bench train`) on the tiny Llama fixture: whole steps are
/// timed phase by phase, the optimizer really steps, and the profile accounts for the step.
final class TrainingBenchmarkTests: XCTestCase {
    func testStepsArePhasedAndProfiled() throws {
        let dir = try TrainingModelTests.directory("llama")
        for method in [TrainingMethod.full, .lora(LoRASettings(rank: 4, alpha: 8, dropout: 0.1))] {
            let model = try TrainableModel.load(directory: dir, batchSize: 2, sequenceLength: 8, method: method)
            let before = model.trainable.values.array()
            let r = try TrainingBenchmark.run(model: model, repeats: 2, profile: true)
            XCTAssertEqual(r.method, method.name)
            XCTAssertEqual(r.trainableParameters, model.trainable.count)
            XCTAssert(r.loss.isFinite && r.loss > 0, "\(method.name) loss \(r.loss)")
            for phase in [r.zeroSeconds, r.forwardSeconds, r.backwardSeconds, r.clipSeconds, r.optimizerSeconds] {
                XCTAssertGreaterThan(phase, 0)
            }
            XCTAssertEqual(r.tokensPerSecond, 16 / r.stepSeconds, accuracy: 1e-9)
            XCTAssertGreaterThanOrEqual(r.meanStepSeconds, r.stepSeconds)
            // Three steps of AdamW moved the trainable tensors (LoRA: A from its init, B from zero).
            XCTAssertNotEqual(model.trainable.values.array(), before)
            // The profile is the reported step's: its exclusive sections add up to at most that step
            // (double counting of nested sections would exceed it).
            let categories = Set(r.profile.map(\.category))
            XCTAssert(categories.isSuperset(of: [.linearForward, .linearInputGradient, .attentionForward,
                                                 .attentionBackward, .norm, .crossEntropy, .optimizer, .clip]))
            XCTAssertEqual(categories.contains(.linearWeightGradient), method == .full)
            let profiled = r.profile.reduce(0) { $0 + $1.seconds }
            XCTAssertLessThanOrEqual(profiled, r.stepSeconds * 1.0001)
            XCTAssertGreaterThan(profiled, 0)
            XCTAssertFalse(TrainingProfiler.isEnabled, "the benchmark leaves the profiler as it found it")
        }
    }

    func testPeakResidentSizeIsPlausible() {
        let bytes = TrainingBenchmark.peakResidentBytes
        XCTAssertGreaterThan(bytes, 1 << 20)
        XCTAssertLessThan(bytes, 1 << 40)
    }
}

/// `readapt bench train` and `readapt bench optim` as a user runs them.
final class BenchTrainCommandLineTests: XCTestCase {
    func testBenchTrainJSONHasTheDocumentedKeys() throws {
        let dir = try TrainingModelTests.directory("llama")
        let out = try ReadaptProcess.run(["bench", "train", "--model", dir.path, "--method", "lora", "--rank", "4",
                                          "--alpha", "8", "--batch-size", "2", "--seq-len", "8", "--repeat", "1",
                                          "--profile", "--json"], testCase: Self.self)
        XCTAssertEqual(out.status, 0, out.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
        for key in ["method", "batch_size", "seq_len", "threads", "trainable_parameters", "zero_grad_seconds",
                    "forward_seconds", "backward_seconds", "clip_seconds", "optimizer_seconds", "step_seconds",
                    "tokens_per_second", "loss", "peak_rss_mb", "estimated_mb", "profile"] {
            XCTAssertNotNil(json[key], key)
        }
        XCTAssertEqual(json["method"] as? String, "lora")
        let profile = try XCTUnwrap(json["profile"] as? [[String: Any]])
        XCTAssert(profile.contains { ($0["op"] as? String)?.hasPrefix("LoRA GEMMs") == true })
    }

    func testBadMethodAndRankAreOneSentence() throws {
        let dir = try TrainingModelTests.directory("llama")
        for (args, fragment) in [(["--method", "qlora"], "--method must be full, lora or dora"),
                                 (["--method", "lora", "--rank", "0"], "rank must be a positive integer"),
                                 (["--method", "dora", "--targets", "q_proj,zz"], "'zz'")] {
            let out = try ReadaptProcess.run(["bench", "train", "--model", dir.path] + args, testCase: Self.self)
            XCTAssertNotEqual(out.status, 0)
            XCTAssert(out.stderr.contains(fragment), out.stderr)
        }
    }

    func testBenchOptimJSON() throws {
        let out = try ReadaptProcess.run(["bench", "optim", "--parameters", "1000", "--repeat", "2"], testCase: Self.self)
        XCTAssertEqual(out.status, 0, out.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["parameters"] as? Double, 1000)
        XCTAssertGreaterThan(json["adamw_step_seconds"] as? Double ?? 0, 0)
        XCTAssertGreaterThan(json["clip_seconds"] as? Double ?? 0, 0)
    }
}
