import Foundation
import XCTest
@testable import ReAdapt

/// The comparison both training golden suites make (TrainingModelTests for full fine-tuning,
/// LoRATrainingTests for adapters): loss within 1e-5 absolute, logits within 1e-4 absolute, the set
/// of trainable tensors equal to the reference's `grad.*` names, every gradient within
/// ‖g − g_ref‖ / ‖g_ref‖ ≤ 1e-4 (no reference gradient zero), and a second backward doubling them.
enum TrainingGoldens {
    /// ‖got − ref‖ / ‖ref‖ and max |got − ref| of two equally long arrays (sums in Double).
    static func relativeError(_ got: [Float], _ ref: [Float]) -> (relative: Double, maxAbs: Float, refNorm: Double) {
        precondition(got.count == ref.count)
        var diff = 0.0, norm = 0.0, maxAbs: Float = 0
        for (a, b) in zip(got, ref) {
            diff += Double(a - b) * Double(a - b)
            norm += Double(b) * Double(b)
            maxAbs = max(maxAbs, abs(a - b))
        }
        return ((diff / max(norm, 1e-30)).squareRoot(), maxAbs, norm.squareRoot())
    }

}

extension XCTestCase {
    /// Forward + backward of `model` on `batch` against PyTorch's loss, logits and gradients.
    func compare(_ model: TrainableModel, batch: TrainingModelTests.Batch, loss expectedLoss: Double, note: String,
                 reference url: URL, label name: String) throws {
        let reference = try SafetensorsFile(url: url)
        let loss = try XCTUnwrap(try model.forward(inputIDs: batch.inputIDs.flatMap { $0 },
                                                   labels: batch.labels.flatMap { $0 }))
        XCTAssertEqual(Double(loss), expectedLoss, accuracy: 1e-5, "\(name) loss (\(note))")
        let logits = model.logits, refLogits = try reference.load("logits")
        XCTAssertEqual(logits.shape, refLogits.shape)
        let logitError = maxAbsDiff(logits.scalars[...], refLogits.scalars[...])
        XCTAssertLessThanOrEqual(logitError, 1e-4, "\(name) logits")

        model.zeroGradients()
        try model.backward()
        let expected = Set(reference.tensorNames.filter { $0.hasPrefix("grad.") }.map { String($0.dropFirst(5)) })
        XCTAssertEqual(Set(model.trainable.slots.map(\.name)), expected, "\(name): the tensors the reference trains")
        var worst = (name: "", relative: 0.0)
        for slot in model.trainable.slots {
            let ref = try reference.load("grad." + slot.name)
            let got = try XCTUnwrap(model.gradient(slot.name))
            XCTAssertEqual(got.shape, ref.shape, slot.name)
            let e = TrainingGoldens.relativeError(got.scalars, ref.scalars)
            XCTAssertGreaterThan(e.refNorm, 0, "\(name) \(slot.name): a zero reference gradient proves nothing")
            XCTAssertLessThanOrEqual(e.relative, 1e-4, "\(name) \(slot.name): relative \(e.relative), max-abs \(e.maxAbs)")
            if e.relative > worst.relative || worst.name.isEmpty { worst = (slot.name, e.relative) }
        }
        print("\(name): loss \(loss) vs \(expectedLoss), logits max-abs \(logitError), worst gradient \(worst.name) relative \(worst.relative)")

        let once = model.gradients.array()
        try model.backward()
        let twice = model.gradients.array()
        let doubled = zip(once, twice).map { abs(2 * $0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(doubled, 1e-6 * (once.map(abs).max() ?? 1), "\(name): backward accumulates")
    }


    /// One optimizer step per reference step on the same batch (forward, zero, backward, clip,
    /// schedule, AdamW), asserting each step's lr within 1e-7 × base, loss within 1e-5 relative and
    /// pre-clip gradient norm within 5e-5 relative of the reference; returns the worst loss and norm errors.
    func runLossCurve(_ model: TrainableModel, optimizer: AdamW, schedule: LearningRateSchedule, ids: [Int],
                      labels: [Int], maxNorm: Double, lrs: [Double], baseLearningRate: Double, losses: [Double],
                      totalNorms: [Double], label prefix: String) throws -> (loss: Double, norm: Double) {
        var worstLoss = 0.0, worstNorm = 0.0
        for step in losses.indices {
            let loss = Double(try XCTUnwrap(try model.forward(inputIDs: ids, labels: labels)))
            model.zeroGradients()
            try model.backward()
            let norm = Double(GradientClipping.clipGlobalNorm(model, maxNorm: maxNorm))
            let lr = schedule.learningRate(step: optimizer.step)
            XCTAssertEqual(lr, lrs[step], accuracy: 1e-7 * baseLearningRate, "\(prefix)lr at step \(step)")
            optimizer.step(model: model, learningRate: lr)
            let lossError = abs(loss - losses[step]) / losses[step]
            let normError = abs(norm - totalNorms[step]) / totalNorms[step]
            XCTAssertLessThanOrEqual(lossError, 1e-5, "\(prefix)loss at step \(step): \(loss) vs \(losses[step])")
            XCTAssertLessThanOrEqual(normError, 5e-5, "\(prefix)norm at step \(step): \(norm) vs \(totalNorms[step])")
            worstLoss = max(worstLoss, lossError)
            worstNorm = max(worstNorm, normError)
        }
        return (worstLoss, worstNorm)
    }
}
