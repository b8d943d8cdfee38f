import ArgumentParser
import Foundation
import ReAdapt

/// `readapt bench train`: speed of one full-fine-tuning forward + backward step (the training core;
/// no optimizer yet), in F32, on pseudo-random tokens.
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Measure the forward+backward tokens/s of full fine-tuning (F32).")

    @Option(name: .long, help: "Hugging Face model directory (config.json and *.safetensors) or a llama .gguf file.")
    var model: String

    @Option(name: .long, help: "Sequences per batch.")
    var batchSize = 4

    @Option(name: .long, help: "Tokens per sequence.")
    var seqLen = 256

    @Option(name: .customLong("repeat"), help: "Timed repetitions; the best is reported.")
    var repetitions = 3

    func validate() throws {
        guard batchSize >= 1, seqLen >= 1, repetitions >= 1 else {
            throw ValidationError("--batch-size, --seq-len and --repeat must be at least 1.")
        }
    }

    func run() throws {
        let trainable = try ModelBundle(url: URL(fileURLWithPath: model))
            .loadTrainableModel(batchSize: batchSize, sequenceLength: seqLen)
        printToStandardError("Timing forward+backward of \(batchSize)×\(seqLen) tokens, best of \(repetitions)…")
        let r = try TrainingBenchmark.run(model: trainable, repeats: repetitions)
        try printJSON([
            "batch_size": Double(r.batchSize), "seq_len": Double(r.sequenceLength),
            "forward_seconds": r.forwardSeconds, "backward_seconds": r.backwardSeconds,
            "tokens_per_second": r.tokensPerSecond, "loss": Double(r.loss),
            "activation_megabytes": Double(trainable.activationFloatCount * 4) / 1e6,
        ])
    }
}
