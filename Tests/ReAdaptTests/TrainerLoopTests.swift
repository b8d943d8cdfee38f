import Foundation
import XCTest
@testable import ReAdapt

/// The training loop's numbers: losses fall, gradient accumulation equals one big batch, and a
/// resumed run is bit-identical to an uninterrupted one.
final class TrainerLoopTests: XCTestCase {
    func testFullFineTuningLossFallsOnRepetitiveText() throws {
        let dir = try TrainerFixtures.temporaryDirectory(self)
        let data = try TrainerFixtures.repetitiveText(in: dir)
        var options = TrainerFixtures.options(.full, steps: 12)
        options.warmupSteps = 0
        let trainer = TrainerFixtures.trainer(output: dir.appendingPathComponent("out"), data: [data], options: options)
        try trainer.train()
        let losses = trainer.log.steps.map(\.loss)
        XCTAssertEqual(losses.count, 12)
        // Mean of the last three steps at most half the first step's loss (measured: 9.19 → 3.77).
        let tail = losses.suffix(3).reduce(0, +) / 3
        XCTAssertLessThan(tail, losses[0] / 2, "\(losses)")
        XCTAssertTrue(trainer.log.steps.allSatisfy { $0.trainedTokens == 2 * 15 && $0.gradNorm > 0 })
    }

    /// LoRA and DoRA (rank 4, all-linear) learn the repeated paragraph too.
    func testAdapterLossFallsOnRepetitiveText() throws {
        for method in [TrainerOptions.Method.lora, .dora] {
            let dir = try TrainerFixtures.temporaryDirectory(self)
            let data = try TrainerFixtures.repetitiveText(in: dir)
            var options = TrainerFixtures.options(method, steps: 12)
            options.warmupSteps = 0
            options.learningRate = 1e-2
            let trainer = TrainerFixtures.trainer(output: dir.appendingPathComponent("out"), data: [data], options: options)
            try trainer.train()
            let losses = trainer.log.steps.map(\.loss)
            let tail = losses.suffix(3).reduce(0, +) / 3
            // Measured: 9.19 → 5.14 (LoRA) and 5.09 (DoRA) averaged over the last 3 steps; a frozen
            // adapter would stay near the base's loss.
            XCTAssertLessThan(tail, 0.65 * losses[0], "\(method) \(losses)")
        }
    }

    /// 2 micro-batches of 2 sequences per step against 1 batch of 4: the batch order draws the same
    /// sequences (a batch is a slice of one per-epoch permutation), every sequence has 15 counted
    /// tokens, so both are the mean over the same 60 tokens; losses agree within 1e-5 over 5 steps.
    func testGradientAccumulationEqualsOneBigBatch() throws {
        let dir = try TrainerFixtures.temporaryDirectory(self)
        let data = try TrainerFixtures.repetitiveText(in: dir)
        var big = TrainerFixtures.options(.full, steps: 5)
        big.batchSize = 4
        var accumulated = big
        accumulated.batchSize = 2
        accumulated.gradientAccumulation = 2
        let a = TrainerFixtures.trainer(output: dir.appendingPathComponent("big"), data: [data], options: big)
        let b = TrainerFixtures.trainer(output: dir.appendingPathComponent("accum"), data: [data], options: accumulated)
        try a.train()
        try b.train()
        XCTAssertEqual(a.log.steps.map(\.trainedTokens), b.log.steps.map(\.trainedTokens))
        for (x, y) in zip(a.log.steps, b.log.steps) {
            XCTAssertEqual(x.loss, y.loss, accuracy: 1e-5, "step \(x.step)")
            XCTAssertEqual(x.gradNorm, y.gradNorm, accuracy: 1e-4 * x.gradNorm, "step \(x.step)")
        }
        // The losses actually moved, so the comparison covers the updates too.
        XCTAssertLessThan(a.log.steps.last!.loss, a.log.steps.first!.loss - 0.5)
        // And accumulation is not a no-op: half the batch alone gives a different first loss.
        var half = big
        half.batchSize = 2
        let c = TrainerFixtures.trainer(output: dir.appendingPathComponent("half"), data: [data], options: half)
        try c.train()
        XCTAssertNotEqual(c.log.steps[1].loss, a.log.steps[1].loss, accuracy: 1e-5)
    }

    func testResumeAfterInterruptionIsBitIdenticalFull() throws { try checkResume(.full) }

    func testResumeAfterInterruptionIsBitIdenticalLoRA() throws { try checkResume(.lora) }

    func testResumeAfterInterruptionIsBitIdenticalDoRAWithAccumulation() throws {
        try checkResume(.dora, accumulation: 2)
    }

    /// Uninterrupted 6 steps against: stop after step 3 (the interruption path saves checkpoint-3),
    /// then `--resume OUTPUT` to step 6. Losses, gradient norms and learning rates of every step
    /// are equal as Doubles, and the final checkpoint's tensor and optimizer files are byte-equal.
    func checkResume(_ method: TrainerOptions.Method, accumulation: Int = 1,
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try TrainerFixtures.temporaryDirectory(self)
        let data = try TrainerFixtures.repetitiveText(in: dir)
        var options = TrainerFixtures.options(method, steps: 6)
        options.gradientAccumulation = accumulation
        let straight = dir.appendingPathComponent("straight"), resumed = dir.appendingPathComponent("resumed")
        let a = TrainerFixtures.trainer(output: straight, data: [data], options: options)
        try a.train()

        let b = TrainerFixtures.trainer(output: resumed, data: [data], options: options)
        let interruption = TrainingInterruption()
        b.interruption = interruption
        b.onEvent = { if case .step(let record, _, _) = $0, record.step == 3 { interruption.requestStop("test") } }
        XCTAssertThrowsError(try b.train(), file: file, line: line) {
            XCTAssertEqual($0 as? TrainerError, .interrupted(signal: "test", step: 3,
                                                            checkpoint: resumed.appendingPathComponent("checkpoint-3").path),
                           file: file, line: line)
        }
        XCTAssertEqual(try TrainerFixtures.loggedRecords(resumed).count, 3, file: file, line: line)
        let c = TrainerFixtures.trainer(output: resumed, data: [data], options: options, resume: resumed)
        try c.train()

        XCTAssertEqual(c.log.steps.count, 6, file: file, line: line)
        for (x, y) in zip(a.log.steps, c.log.steps) {
            XCTAssertEqual(x.loss, y.loss, "step \(x.step) loss", file: file, line: line)
            XCTAssertEqual(x.gradNorm, y.gradNorm, "step \(x.step) grad norm", file: file, line: line)
            XCTAssertEqual(x.learningRate, y.learningRate, "step \(x.step) lr", file: file, line: line)
        }
        XCTAssertEqual(try TrainerFixtures.loggedRecords(resumed).filter { $0["type"] as? String == "train" }.count, 6,
                       file: file, line: line)
        let tensors = TrainingCheckpoint.tensorsFileName(options.trainingMethod)
        for name in [tensors, TrainingCheckpoint.optimizerFileName] {
            let x = try Data(contentsOf: straight.appendingPathComponent("checkpoint-6/" + name))
            let y = try Data(contentsOf: resumed.appendingPathComponent("checkpoint-6/" + name))
            XCTAssertTrue(x == y, "\(name) differs after resume", file: file, line: line)
        }
        // The trained tensors moved away from their initial values and got gradients (the test is
        // not vacuous).
        let initial = try ModelBundle(url: TrainerFixtures.model).loadTrainableModel(
            batchSize: 2, sequenceLength: 16, method: options.trainingMethod, seed: options.seed)
        XCTAssertNotEqual(initial.trainable.values.array(), a.model.trainable.values.array(), file: file, line: line)
        XCTAssertTrue(a.log.steps.allSatisfy { $0.gradNorm > 0 }, file: file, line: line)
        let moments = try SafetensorsFile(url: straight.appendingPathComponent("checkpoint-6/optimizer.safetensors"))
        XCTAssertGreaterThan(try moments.load("exp_avg_sq").scalars.max() ?? 0, 0, file: file, line: line)
    }

    /// Dropout keys differ per micro-step and per seed (so masks differ), and are reproducible.
    func testDropoutKeysArePerMicroStep() {
        let keys = (0..<100).map { Trainer.dropoutKey(seed: 42, microStep: $0) }
        XCTAssertEqual(Set(keys).count, 100)
        XCTAssertEqual(keys[7], Trainer.dropoutKey(seed: 42, microStep: 7))
        XCTAssertNotEqual(keys[7], Trainer.dropoutKey(seed: 43, microStep: 7))
    }

    /// Position t predicts label t + 1 of its sequence: labels at each sequence's first position and
    /// -100 labels do not count.
    func testCountedTargetsFollowTheShift() {
        XCTAssertEqual(Trainer.countedTargets([5, 6, 7, 8, 9, 10], sequenceLength: 3), 4)
        XCTAssertEqual(Trainer.countedTargets([5, -100, 7, -100, -100, 10], sequenceLength: 3), 2)
        XCTAssertEqual(Trainer.countedTargets([-100, -100, -100], sequenceLength: 3), 0)
    }

    /// transformers' `get_decay_parameter_names` on the tiny Llama (RMSNorms, no biases) and on
    /// Qwen2 names with biases; LoRA/DoRA tensor names are all decayed.
    func testWeightDecayGroupsFollowTransformers() throws {
        let excluded = ["model.layers.0.input_layernorm.weight", "model.layers.3.post_attention_layernorm.weight",
                        "model.norm.weight", "model.layers.0.self_attn.q_proj.bias", "model.layers.0.self_attn.q_norm.weight"]
        let decayed = ["model.embed_tokens.weight", "lm_head.weight", "model.layers.0.self_attn.q_proj.weight",
                       "model.layers.1.mlp.down_proj.weight",
                       "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                       "base_model.model.model.layers.0.mlp.up_proj.lora_B.weight",
                       "base_model.model.model.layers.0.mlp.up_proj.lora_magnitude_vector", "model.normalizer.weight"]
        for name in excluded { XCTAssertTrue(Trainer.excludedFromWeightDecay(name), name) }
        for name in decayed { XCTAssertFalse(Trainer.excludedFromWeightDecay(name), name) }
    }

    /// Validation: mean over every counted validation token, with a partial last batch padded by
    /// ignored rows; equal to a hand computation over one-sequence batches.
    func testValidationIsTheTokenMeanOverAllSequences() throws {
        let dir = try TrainerFixtures.temporaryDirectory(self)
        let data = try TrainerFixtures.repetitiveText(in: dir)
        let val = try TrainerFixtures.repetitiveText(in: dir, name: "val.txt", repeats: 3)
        let bundle = try ModelBundle(url: TrainerFixtures.model)
        let sequences = try TrainingDataset.load(files: [val], bundle: bundle, sequenceLength: 16)
        var options = TrainerFixtures.options(.full, steps: 1)
        // A batch size that leaves a partial last validation batch.
        options.batchSize = try XCTUnwrap((2...5).first { sequences.count % $0 != 0 })
        let trainer = TrainerFixtures.trainer(output: dir.appendingPathComponent("out"), data: [data], options: options, validation: val)
        try trainer.train()
        let record = try XCTUnwrap(trainer.log.validations.last)
        XCTAssertEqual(record.tokens, sequences.count * 15)
        // Reference: the trained weights in a batch-1 model, one sequence at a time.
        let single = try bundle.loadTrainableModel(batchSize: 1, sequenceLength: 16)
        for slot in trainer.model.trainable.slots {
            try single.trainable.setValue(slot.name, trainer.model.trainable.value(slot.name)!, source: "test")
        }
        var sum = 0.0
        for i in 0..<sequences.count {
            let (ids, labels) = sequences.batch([i])
            sum += Double(try single.forward(inputIDs: ids, labels: labels)!) * 15
        }
        XCTAssertEqual(record.loss, sum / Double(record.tokens), accuracy: 1e-5)
    }
}

/// Gradient accumulation with unequal token counts (chat data: only assistant tokens count):
/// transformers' Trainer divides the summed token losses of a step by the step's total count
/// (`num_items_in_batch`), so 2 micro-batches of 1 equal 1 batch of 2 even then; a plain
/// "divide each micro-batch loss by G" would not.
final class TrainerChatAccumulationTests: XCTestCase {
    func testTokenWeightedAccumulationWithUnequalCounts() throws {
        let dir = try TrainerFixtures.temporaryDirectory(self)
        // The example model plus a minimal chat template.
        let model = dir.appendingPathComponent("model")
        try FileManager.default.copyItem(at: TrainerFixtures.model, to: model)
        let template = "{% for m in messages %}<|endoftext|>{{ m.role }}:\\n{{ m.content }}<|endoftext|>{% endfor %}{% if add_generation_prompt %}<|endoftext|>assistant:\\n{% endif %}"
        try Data("""
        {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "chat_template": "\(template)"}
        """.utf8).write(to: model.appendingPathComponent("tokenizer_config.json"))
        let replies = ["Yes.", "The keeper counts seven gulls every morning.", "No, the book is blue and the gulls are grey.",
                       "Seven.", "He writes the number down.", "Blue."]
        let lines = replies.enumerated().map { i, reply in
            "{\"messages\": [{\"role\": \"user\", \"content\": \"Question \(i)?\"}, {\"role\": \"assistant\", \"content\": \"\(reply)\"}]}"
        }
        let data = dir.appendingPathComponent("chat.jsonl")
        try lines.joined(separator: "\n").write(to: data, atomically: true, encoding: .utf8)

        func run(batch: Int, accumulation: Int, name: String) throws -> Trainer {
            var options = TrainerOptions(method: .full)
            options.steps = 3
            options.batchSize = batch
            options.gradientAccumulation = accumulation
            options.sequenceLength = 32
            options.learningRate = 3e-3
            let trainer = Trainer(paths: TrainerPaths(model: model, data: [data], output: dir.appendingPathComponent(name)), options: options)
            trainer.memoryLimit = 1 << 40
            try trainer.train()
            return trainer
        }
        let big = try run(batch: 2, accumulation: 1, name: "big")
        let accumulated = try run(batch: 1, accumulation: 2, name: "accum")
        XCTAssertEqual(big.log.steps.map(\.trainedTokens), accumulated.log.steps.map(\.trainedTokens))
        // Relative 1e-5 (measured 1.6e-6 at step 2: AdamW at lr 3e-3 amplifies F32 summation-order
        // differences of the first step; the first step's loss agrees to 1e-6).
        XCTAssertEqual(big.log.steps[0].loss, accumulated.log.steps[0].loss, accuracy: 1e-6)
        for (x, y) in zip(big.log.steps, accumulated.log.steps) {
            XCTAssertEqual(x.loss, y.loss, accuracy: 1e-5 * x.loss, "step \(x.step)")
            XCTAssertEqual(x.gradNorm, y.gradNorm, accuracy: 1e-4 * x.gradNorm, "step \(x.step)")
        }
        // The counts per micro-batch really differ (else this is the equal-count test again).
        let bundle = try ModelBundle(url: model)
        let dataset = try TrainingDataset.load(files: [data], bundle: bundle, sequenceLength: 32)
        let counts = (0..<dataset.count).map { Trainer.countedTargets(dataset.batch([$0]).labels, sequenceLength: 32) }
        XCTAssertGreaterThan(Set(counts).count, 2, "\(counts)")
    }
}
