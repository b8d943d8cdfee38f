import Foundation
import XCTest
@testable import ReAdapt

/// The writers on the real SmolLM2-135M-Instruct (GGUF Q4_1 base, dequantized to F32), skipped
/// when the file is absent (see RealModelLocator): a full checkpoint reopened by `ModelBundle` gives
/// the model's logits, and an r = 64 all-linear LoRA adapter reads back bit-exact and, merged by
/// `AdapterStack`, gives the logits of the trainer's own LoRA forward.
/// Prints the time of each step.
final class TrainedModelWriterRealModelTests: XCTestCase {
    func testSmolLM2CheckpointAndAdapterRoundTrip() throws {
        guard let gguf = RealModelLocator.smolLM2GGUF, FileManager.default.fileExists(atPath: gguf.path) else {
            throw XCTSkip("SmolLM2-135M-Instruct GGUF not present")
        }
        let tmp = try TrainOutputFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let bundle = try ModelBundle(url: gguf)
        let ids = bundle.tokenizer.encode("The capital of France is Paris, and the capital of Italy is")
        let settings = LoRASettings(rank: 64, alpha: 128, targets: LoRATargetModule.allCases)
        let model = try bundle.loadTrainableModel(batchSize: 1, sequenceLength: ids.count, method: .lora(settings), seed: 1)

        var start = ContinuousClock.now
        func lap(_ what: String) {
            print("SmolLM2 \(what): \((ContinuousClock.now - start).seconds) s")
            start = ContinuousClock.now
        }
        var random = TrainOutputFixtures.SplitMix(state: 5)
        for slot in model.trainable.slots where slot.name.hasSuffix("lora_B.weight") {
            for i in slot.offset..<(slot.offset + slot.count) { model.trainable.values.pointer[i] = (2 * random.unit() - 1) * 0.01 }
        }
        let adapterDirectory = tmp.appendingPathComponent("adapter")
        start = ContinuousClock.now
        try TrainedModelWriter.writePEFTAdapter(model: model, baseModel: "HuggingFaceTB/SmolLM2-135M-Instruct", to: adapterDirectory)
        lap("writePEFTAdapter (r 64, all-linear, \(model.trainable.count) values)")
        let adapter = try XCTUnwrap(try AdapterLoader.load(adapterDirectory) as? PEFTAdapter)
        for slot in [model.trainable.slots.first!, model.trainable.slots.last!] {
            XCTAssertEqual(try adapter.weights.load(slot.name).scalars, model.trainable.value(slot.name)?.scalars)
        }

        // The trainer's LoRA forward and our merge path agree on what the written adapter means.
        try model.forward(inputIDs: ids)
        let adapted = try bundle.loadModel(storage: .f32, adapters: AdapterStack(entries: [.init(adapter: adapter, scale: 1)]))
        let adaptedLogits = try adapted.makeSession().forward(ids, allPositions: true)
        XCTAssertLessThanOrEqual(maxAbsDiff(adaptedLogits[...], model.logits.scalars[...]), 1e-3, "LoRA forward vs merged adapter")

        // The checkpoint of a LoRA model holds its frozen base: compare with the adapter switched off (B = 0).
        for slot in model.trainable.slots where slot.name.hasSuffix("lora_B.weight") {
            (model.trainable.values.pointer + slot.offset).update(repeating: 0, count: slot.count)
        }
        try model.forward(inputIDs: ids)
        let checkpointDirectory = tmp.appendingPathComponent("checkpoint")
        start = ContinuousClock.now
        try TrainedModelWriter.writeCheckpoint(model: model, baseDirectory: gguf, to: checkpointDirectory)
        lap("writeCheckpoint (\(model.parameters.count) parameters)")
        let reopened = try ModelBundle(url: checkpointDirectory)
        XCTAssertEqual(reopened.spec, model.spec)
        XCTAssertEqual(reopened.tokenizer.encode("Paris"), bundle.tokenizer.encode("Paris"))
        let logits = try reopened.loadModel(storage: .f32).makeSession().forward(ids, allPositions: true)
        XCTAssertLessThanOrEqual(maxAbsDiff(logits[...], model.logits.scalars[...]), 1e-3, "logits of magnitude ~20")

        start = ContinuousClock.now
        model.initializeRandomly(seed: 1)
        lap("initializeRandomly")
    }
}
