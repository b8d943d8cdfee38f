import Foundation
import XCTest
@testable import ReAdapt

/// LoRA and DoRA training against PyTorch + PEFT (scripts/fixtures/make_lora_fixtures.py,
/// Fixtures/lora/, described in docs/lora-fixtures.md): the tiny base models of Fixtures/training
/// with a RANDOMISED adapter saved by PEFT (A and B random so A's gradient is not zero, DoRA's
/// magnitude ≠ the row norms), its loss, logits and the gradient of every adapter tensor; and 10
/// AdamW steps of the adapter with warmup and clipping.
final class LoRATrainingTests: XCTestCase {
    struct Case: Decodable {
        struct Settings: Decodable {
            var r: Int
            var alpha: Double
            var useRSLoRA, useDoRA: Bool
            var targetModules: [String]
            enum CodingKeys: String, CodingKey {
                case r, alpha, useRSLoRA = "use_rslora", useDoRA = "use_dora", targetModules = "target_modules"
            }
        }
        var base: String
        var loss, baseLoss: Double
        var trainableParameters: Int
        var settings: Settings
        enum CodingKeys: String, CodingKey {
            case base, loss, settings, baseLoss = "base_loss", trainableParameters = "trainable_parameters"
        }
    }

    struct Curve: Decodable {
        var `case`: String
        var base: String
        var lr, weightDecay, maxNorm, eps: Double
        var betas: [Double]
        var warmup, total: Int
        var losses, totalNorms, lrs: [Double]
        var finalLoss: Double
        enum CodingKeys: String, CodingKey {
            case `case`, base, lr, eps, betas, warmup, total, losses, lrs, weightDecay = "weight_decay",
                 maxNorm = "max_norm", totalNorms = "total_norms", finalLoss = "final_loss"
        }
    }

    static func directory(_ name: String) throws -> URL {
        let root = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return root.appendingPathComponent("lora").appendingPathComponent(name)
    }

    static func loadCase(_ name: String) throws -> Case {
        try JSONDecoder().decode(Case.self, from: Data(contentsOf: directory(name).appendingPathComponent("case.json")))
    }

    static func batch(_ base: String) throws -> TrainingModelTests.Batch {
        let url = try TrainingModelTests.directory(base).appendingPathComponent("batch.json")
        return try JSONDecoder().decode(TrainingModelTests.Batch.self, from: Data(contentsOf: url))
    }

    static func settings(_ c: Case, dropout: Double = 0) throws -> LoRASettings {
        let targets = try LoRATargetModule.parseList(c.settings.targetModules.joined(separator: ",")).get()
        XCTAssertEqual(targets.map(\.rawValue).sorted(), c.settings.targetModules.sorted())
        return LoRASettings(rank: c.settings.r, alpha: c.settings.alpha, useRSLoRA: c.settings.useRSLoRA,
                            dropout: dropout, useDoRA: c.settings.useDoRA, targets: targets)
    }

    /// The base model of a case with `settings`, and the case's PEFT adapter copied into its trainable
    /// tensors after checking that the slots are exactly the adapter file's tensors (names and shapes).
    static func model(case name: String, settings: LoRASettings? = nil) throws -> TrainableModel {
        let c = try loadCase(name)
        let batch = try batch(c.base)
        let model = try TrainableModel.load(directory: try TrainingModelTests.directory(c.base), batchSize: batch.batch,
                                            sequenceLength: batch.seqLen, method: .lora(try settings ?? Self.settings(c)))
        let url = try directory(name).appendingPathComponent("adapter_model.safetensors")
        let adapter = try SafetensorsFile(url: url)
        XCTAssertEqual(Set(model.trainable.slots.map(\.name)), Set(adapter.tensorNames),
                       "\(name): the trainable tensors are the adapter file's tensors")
        for slot in model.trainable.slots {
            XCTAssertEqual(adapter.info(slot.name)?.shape, slot.shape, "\(name) \(slot.name)")
            try model.trainable.setValue(slot.name, try adapter.load(slot.name), source: url.path)
        }
        return model
    }

    /// Tolerances (as for full fine-tuning in TrainingModelTests): loss within 1e-5 absolute (it is
    /// ~5–6); logits within 1e-4 absolute (values up to ~8); each adapter tensor's gradient within
    /// ‖g − g_ref‖ / ‖g_ref‖ ≤ 1e-4; the base weights get no gradient (they have no slot) and a second
    /// backward doubles the adapter's gradients.
    func check(_ name: String) throws {
        let c = try Self.loadCase(name)
        let model = try Self.model(case: name)
        XCTAssertEqual(model.trainable.count, c.trainableParameters, "\(name): PEFT's trainable parameter count")
        XCTAssertEqual(model.method.name, c.settings.useDoRA ? "dora" : "lora")
        try compare(model, batch: try Self.batch(c.base), loss: c.loss, note: "the base model alone gives \(c.baseLoss)",
                    reference: Self.directory(name).appendingPathComponent("reference.safetensors"), label: name)
    }

    func testLlamaLoRAAllLinear() throws { try check("llama_lora") }
    func testLlamaRSLoRAOnQueryAndValueOnly() throws { try check("llama_lora_rslora_qv") }
    func testQwen2LoRAWithQKVBiasesAndTiedHead() throws { try check("qwen2_lora") }
    func testGemmaDoRA() throws { try check("gemma_dora") }
    func testDoRAOnLinearLayersWithBiases() throws { try check("llama_bias_dora") }
    func testMistralLoRAWithSlidingWindow() throws { try check("mistral_lora_window") }

    struct DropoutCase: Decodable {
        var adapter: String
        var dropout: Double
        var key: UInt64
        var loss, evalLoss: Double
        enum CodingKeys: String, CodingKey { case adapter, dropout, key, loss, evalLoss = "eval_loss" }
    }

    /// Dropout semantics against PEFT in train mode, with ReAdapt's own masks replayed in the fixture
    /// script (Fixtures/lora/dropout/): LoRA drops the adapter's input only; DoRA (on a model with
    /// biases) recomputes its base term W·dropout(x), without the bias. Same tolerances as `check`.
    /// If the mask function (ck_dropout, TrainableModel.moduleKey) changes, regenerate the fixtures.
    func testDropoutMatchesPEFTWithReAdaptsMasks() throws {
        for name in ["llama_lora", "llama_bias_dora"] {
            let dir = try Self.directory("dropout").appendingPathComponent(name)
            let d = try JSONDecoder().decode(DropoutCase.self, from: Data(contentsOf: dir.appendingPathComponent("case.json")))
            let c = try Self.loadCase(d.adapter)
            let model = try Self.model(case: d.adapter, settings: try Self.settings(c, dropout: d.dropout))
            model.dropoutKey = d.key
            try compare(model, batch: try Self.batch(c.base), loss: d.loss, note: "without dropout \(d.evalLoss)",
                        reference: dir.appendingPathComponent("reference.safetensors"), label: "\(name) dropout \(d.dropout)")
        }
    }

    /// Tolerances: each loss within 1e-5 relative of PyTorch's (~5e-5 absolute at the start), each
    /// pre-clip gradient norm within 5e-5 relative, the lr exactly the schedule's (1e-7 × base), and
    /// every final adapter tensor within ‖a − a_ref‖ / ‖a_ref‖ ≤ 1e-5. The base weights must not move.
    func checkLossCurve(_ prefix: String) throws {
        let root = try Self.directory("")
        let curve = try JSONDecoder().decode(Curve.self, from: Data(contentsOf: root.appendingPathComponent(prefix + "loss_curve.json")))
        let batch = try Self.batch(curve.base)
        let model = try Self.model(case: curve.case)
        let baseBefore = model.parameters.array()
        let optimizer = try AdamW(model: model, options: AdamWOptions(
            learningRate: curve.lr, beta1: curve.betas[0], beta2: curve.betas[1], epsilon: curve.eps,
            weightDecay: curve.weightDecay))
        let schedule = LearningRateSchedule(kind: .linear, baseLearningRate: curve.lr, warmupSteps: curve.warmup,
                                            totalSteps: curve.total)
        let ids = batch.inputIDs.flatMap { $0 }, labels = batch.labels.flatMap { $0 }
        let (worstLoss, worstNorm) = try runLossCurve(model, optimizer: optimizer, schedule: schedule, ids: ids,
                                                      labels: labels, maxNorm: curve.maxNorm, lrs: curve.lrs,
                                                      baseLearningRate: curve.lr, losses: curve.losses,
                                                      totalNorms: curve.totalNorms, label: prefix)
        let final = Double(try XCTUnwrap(try model.forward(inputIDs: ids, labels: labels)))
        XCTAssertEqual(final, curve.finalLoss, accuracy: 1e-5 * curve.finalLoss, "\(prefix)loss after the last step")
        XCTAssertLessThan(final, 0.5 * curve.losses[0], "\(prefix)the adapter must actually train")
        XCTAssertTrue(model.parameters.array() == baseBefore, "\(prefix)the frozen base weights changed")

        let reference = try SafetensorsFile(url: root.appendingPathComponent(prefix + "final_adapter.safetensors"))
        XCTAssertEqual(Set(reference.tensorNames), Set(model.trainable.slots.map(\.name)))
        var worstTensor = (name: "", relative: 0.0)
        for slot in model.trainable.slots {
            let e = TrainingGoldens.relativeError(try XCTUnwrap(model.trainable.value(slot.name)).scalars,
                                       try reference.load(slot.name).scalars)
            XCTAssertLessThanOrEqual(e.relative, 1e-5, "\(prefix)final \(slot.name): relative \(e.relative), max-abs \(e.maxAbs)")
            if e.relative > worstTensor.relative || worstTensor.name.isEmpty { worstTensor = (slot.name, e.relative) }
        }
        print("\(prefix)loss curve (\(curve.case)): worst loss relative \(worstLoss), worst norm relative \(worstNorm), "
              + "final \(final) vs \(curve.finalLoss), worst final tensor \(worstTensor.name) relative \(worstTensor.relative)")
    }

    func testLoRATenStepLossCurveMatchesPEFT() throws { try checkLossCurve("") }
    func testDoRATenStepLossCurveMatchesPEFT() throws { try checkLossCurve("dora_") }

    /// A fresh adapter as PEFT initialises it (B = 0; DoRA's magnitude = the row norms of W) leaves
    /// the model as it is. LoRA adds scale·(x·Aᵀ)·Bᵀ = 0 exactly, so the logits must equal the base
    /// model's bit for bit. DoRA multiplies by magnitude/‖W‖, which is 1 only up to the rounding of
    /// two separately computed norms (~1e-7 per module, compounded over 14 modules), so its logits are
    /// allowed 3e-5 absolute (values ~5; measured 3.5e-6 and 4.1e-6 on Zen 3) and its loss 1e-5.
    /// A wrong magnitude init would move them by the size of the adapter itself. With B = 0, A's
    /// gradient is exactly 0 (it flows through B) while B's, and DoRA's magnitude's, are not.
    func testLoRAWithZeroBEqualsBase() throws {
        for (base, dora) in [("llama", false), ("qwen2", false), ("llama_bias", true), ("gemma", true)] {
            let batch = try Self.batch(base)
            let dir = try TrainingModelTests.directory(base)
            let ids = batch.inputIDs.flatMap { $0 }, labels = batch.labels.flatMap { $0 }
            let plain = try TrainableModel.load(directory: dir, batchSize: batch.batch, sequenceLength: batch.seqLen)
            let baseLoss = try XCTUnwrap(try plain.forward(inputIDs: ids, labels: labels))
            let settings = LoRASettings(rank: 4, alpha: 8, dropout: 0, useDoRA: dora)
            let model = try TrainableModel.load(directory: dir, batchSize: batch.batch, sequenceLength: batch.seqLen,
                                                method: .lora(settings), seed: 7)
            var sawA = false
            for slot in model.trainable.slots {
                let values = try XCTUnwrap(model.trainable.value(slot.name)).scalars
                if slot.name.hasSuffix("lora_B.weight") {
                    XCTAssertEqual(values.map(abs).max(), 0, "\(base) \(slot.name): PEFT initialises B to zero")
                } else if slot.name.hasSuffix("lora_A.weight") {
                    sawA = true
                    XCTAssertGreaterThan(values.map(abs).max() ?? 0, 0, "\(base) \(slot.name): A is random")
                }
            }
            XCTAssertTrue(sawA)
            let loss = try XCTUnwrap(try model.forward(inputIDs: ids, labels: labels))
            let logitError = maxAbsDiff(model.logits.scalars[...], plain.logits.scalars[...])
            if dora {
                XCTAssertLessThanOrEqual(logitError, 3e-5, "\(base) DoRA with B = 0: logits")
                XCTAssertEqual(loss, baseLoss, accuracy: 1e-5, "\(base) DoRA with B = 0: loss")
            } else {
                XCTAssertEqual(logitError, 0, "\(base) LoRA with B = 0: logits must be the base model's exactly")
                XCTAssertEqual(loss, baseLoss, "\(base) LoRA with B = 0: loss")
            }
            XCTAssertEqual(Double(loss), batch.loss, accuracy: 1e-5, "\(base): PyTorch's base loss")

            model.zeroGradients()
            try model.backward()
            for slot in model.trainable.slots {
                let g = try XCTUnwrap(model.gradient(slot.name)).scalars.map(abs).max() ?? 0
                if slot.name.hasSuffix("lora_A.weight") {
                    XCTAssertEqual(g, 0, "\(base) \(slot.name): with B = 0 A's gradient is exactly zero")
                } else {
                    XCTAssertGreaterThan(g, 0, "\(base) \(slot.name): gradient")
                }
            }
            print("\(base) \(dora ? "DoRA" : "LoRA") with B = 0: logits max-abs vs base \(logitError), loss \(loss) vs \(baseLoss)")
        }
    }

    /// Dropout acts only in training: with `dropoutKey == nil` a dropout-0.3 adapter gives exactly the
    /// dropout-0 loss; with a key the loss changes (the adapters are randomised, so the LoRA branch
    /// matters), the same key gives the same loss bit for bit, another key another loss; and dropout 0
    /// with a key is the plain forward (PEFT uses an identity then).
    func testDropoutKeyNilMeansEval() throws {
        for name in ["llama_lora", "gemma_dora"] {
            let c = try Self.loadCase(name)
            let batch = try Self.batch(c.base)
            let ids = batch.inputIDs.flatMap { $0 }, labels = batch.labels.flatMap { $0 }
            let noDropout = try Self.model(case: name)
            let evalLoss = try XCTUnwrap(try noDropout.forward(inputIDs: ids, labels: labels))
            noDropout.dropoutKey = 42
            XCTAssertEqual(try noDropout.forward(inputIDs: ids, labels: labels), evalLoss,
                           "\(name): dropout 0 with a key is the plain forward")

            let model = try Self.model(case: name, settings: try Self.settings(c, dropout: 0.3))
            model.dropoutKey = nil
            XCTAssertEqual(try model.forward(inputIDs: ids, labels: labels), evalLoss, "\(name): no key means no dropout")
            model.dropoutKey = 1
            let first = try XCTUnwrap(try model.forward(inputIDs: ids, labels: labels))
            XCTAssertGreaterThan(abs(first - evalLoss), 1e-4, "\(name): dropout 0.3 must change the loss")
            model.dropoutKey = 2
            let other = try XCTUnwrap(try model.forward(inputIDs: ids, labels: labels))
            XCTAssertNotEqual(other, first, "\(name): another key, other masks")
            model.dropoutKey = 1
            XCTAssertEqual(try model.forward(inputIDs: ids, labels: labels), first, "\(name): same key, same masks")
            model.dropoutKey = nil
            XCTAssertEqual(try model.forward(inputIDs: ids, labels: labels), evalLoss, "\(name): back to evaluation")
            print("\(name): eval loss \(evalLoss), dropout 0.3 key 1 \(first), key 2 \(other)")
        }
    }
}
