import Foundation
import XCTest
@testable import ReAdapt

/// The LoRA/DoRA backward against central finite differences of the whole model's loss, on the tiny
/// fixture models (biases, GQA, tied and untied heads), with and without dropout (a fixed mask key,
/// so the forward is a deterministic function of the adapter). This checks `LoRAOps` and the model's
/// wiring of them — including the input gradients that reach lower layers — independently of the
/// PyTorch goldens in LoRATrainingTests.
///
/// The model is F32 and the loss ~4.6: with step h the rounding noise of a difference quotient is
/// ~1e-7·4.6/h per entry, so the check uses a large enough step (h = 1e-2 on values of order 0.3)
/// and requires, for EACH adapter tensor, ‖g_fd − g‖/‖g_fd‖ ≤ 7e-3 over every third entry
/// (observed worst 4.7e-3); a 1% error in one tensor's gradient exceeds it
/// (`testCheckRejectsAScaledAdapterGradient`). DoRA's norm is held fixed while differencing,
/// because PEFT's gradient treats it as a constant.
final class LoRAGradientCheckTests: XCTestCase {
    struct Batch: Decodable {
        var batch: Int, seqLen: Int, inputIDs: [[Int]], labels: [[Int]]
        enum CodingKeys: String, CodingKey { case batch, seqLen = "seq_len", inputIDs = "input_ids", labels }
    }

    static func model(_ name: String, settings: LoRASettings, seed: UInt64 = 7) throws -> (TrainableModel, [Int], [Int]) {
        let dir = try TrainingModelTests.directory(name)
        let batch = try JSONDecoder().decode(Batch.self, from: Data(contentsOf: dir.appendingPathComponent("batch.json")))
        let model = try TrainableModel.load(directory: dir, batchSize: batch.batch, sequenceLength: batch.seqLen,
                                            method: .lora(settings), seed: seed)
        // PEFT starts with B = 0, which would zero A's gradient; give every tensor a visible value.
        var state: UInt64 = seed
        let values = model.trainable.values.pointer
        for slot in model.trainable.slots {
            for i in 0..<slot.count {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let r = Float((state >> 40) & 0xFFFFFF) / Float(1 << 24) * 2 - 1
                if slot.name.hasSuffix("lora_magnitude_vector") {
                    values[slot.offset + i] *= 1 + 0.3 * r
                } else {
                    values[slot.offset + i] = 0.3 * r
                }
            }
        }
        return (model, batch.inputIDs.flatMap { $0 }, batch.labels.flatMap { $0 })
    }

    /// The worst, over the adapter's tensors, relative error of the analytic gradient on every
    /// `stride`-th value of the tensor.
    static func check(_ model: TrainableModel, ids: [Int], labels: [Int], stride: Int, step: Float = 1e-2,
                      scaleGradient: (name: String, factor: Float)? = nil) throws -> Double {
        model.zeroGradients()
        try model.forward(inputIDs: ids, labels: labels)
        try model.backward()
        var analytic = model.trainable.gradients.array()
        // DoRA's norm is detached: hold it at this point's value while differencing (see the model).
        model.holdsDoRANorms = true
        defer { model.holdsDoRANorms = false }
        if let (name, factor) = scaleGradient {
            for slot in model.trainable.slots where slot.name.contains(name) {
                for i in slot.offset..<(slot.offset + slot.count) { analytic[i] *= factor }
            }
        }
        let values = model.trainable.values.pointer
        var worst = 0.0
        for slot in model.trainable.slots {
            var diff = 0.0, norm = 0.0
            for i in Swift.stride(from: slot.offset, to: slot.offset + slot.count, by: stride) {
                let original = values[i]
                values[i] = original + step
                let plus = Double(try XCTUnwrap(try model.forward(inputIDs: ids, labels: labels)))
                values[i] = original - step
                let minus = Double(try XCTUnwrap(try model.forward(inputIDs: ids, labels: labels)))
                values[i] = original
                let fd = (plus - minus) / Double(2 * step)
                diff += (fd - Double(analytic[i])) * (fd - Double(analytic[i]))
                norm += fd * fd
            }
            XCTAssertGreaterThan(norm, 0, "\(slot.name): a zero gradient proves nothing")
            worst = max(worst, (diff / norm).squareRoot())
        }
        return worst
    }

    func run(_ name: String, _ settings: LoRASettings, dropoutKey: UInt64? = nil, stride: Int = 3) throws {
        let (model, ids, labels) = try Self.model(name, settings: settings)
        model.dropoutKey = dropoutKey
        let error = try Self.check(model, ids: ids, labels: labels, stride: stride)
        XCTAssertLessThanOrEqual(error, 7e-3, "\(name) \(settings.useDoRA ? "DoRA" : "LoRA") dropout \(settings.dropout)")
        print("\(name) dora=\(settings.useDoRA) dropout=\(settings.dropout): relative error \(error)")
    }

    func testLoRAAllLinearWithBiases() throws {
        try run("llama_bias", LoRASettings(rank: 2, alpha: 4, dropout: 0))
    }

    func testLoRAWithDropoutMask() throws {
        try run("qwen2", LoRASettings(rank: 2, alpha: 3, useRSLoRA: true, dropout: 0.25), dropoutKey: 99)
    }

    func testDoRAWithBiases() throws {
        try run("llama_bias", LoRASettings(rank: 2, alpha: 4, dropout: 0, useDoRA: true))
    }

    func testDoRAWithDropoutMask() throws {
        try run("gemma", LoRASettings(rank: 2, alpha: 4, dropout: 0.25, useDoRA: true,
                                      targets: [.q, .v, .o, .down]), dropoutKey: 5)
    }

    func testCheckRejectsAScaledAdapterGradient() throws {
        let (model, ids, labels) = try Self.model("llama_bias", settings: LoRASettings(rank: 2, alpha: 4, dropout: 0, useDoRA: true))
        for name in ["v_proj.lora_A", "down_proj.lora_B", "o_proj.lora_magnitude_vector"] {
            let error = try Self.check(model, ids: ids, labels: labels, stride: 3, scaleGradient: (name, 1.01))
            XCTAssertGreaterThan(error, 7e-3, "a 1% error in \(name) must fail")
        }
    }

    /// Masks are a pure function of the key: the same key gives the same loss, another key another.
    func testDropoutMasksFollowTheKey() throws {
        let (model, ids, labels) = try Self.model("llama", settings: LoRASettings(rank: 2, alpha: 4, dropout: 0.3))
        model.dropoutKey = nil
        let eval = try XCTUnwrap(try model.forward(inputIDs: ids, labels: labels))
        model.dropoutKey = 1
        let first = try XCTUnwrap(try model.forward(inputIDs: ids, labels: labels))
        let again = try XCTUnwrap(try model.forward(inputIDs: ids, labels: labels))
        model.dropoutKey = 2
        let other = try XCTUnwrap(try model.forward(inputIDs: ids, labels: labels))
        XCTAssertEqual(first, again)
        XCTAssertNotEqual(first, other)
        XCTAssertNotEqual(first, eval)
    }

    /// The kept share of a mask is 1 − p within sampling error, and kept values are scaled by 1/(1 − p).
    func testDropoutKeepsOneMinusPScaled() {
        let n = 200_000, p: Float = 0.05
        let shape = LoRAShape(rows: 1, inFeatures: n, outFeatures: 1, rank: 1, scale: 1, dropout: p)
        let x = [Float](repeating: 1, count: n)
        var out = [Float](repeating: 0, count: n)
        LoRAOps.dropout(x, count: n, key: 123, shape: shape, into: &out)
        let kept = out.filter { $0 != 0 }
        XCTAssertEqual(Double(kept.count) / Double(n), 0.95, accuracy: 4 * (0.05 * 0.95 / Double(n)).squareRoot())
        XCTAssertTrue(kept.allSatisfy { $0 == 1 / (1 - p) })
    }
}
