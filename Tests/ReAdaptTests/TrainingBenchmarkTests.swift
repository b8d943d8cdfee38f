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
