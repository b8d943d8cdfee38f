import ArgumentParser
import Foundation
import ReAdapt

/// `readapt bench train`: speed and memory of whole training steps (zero grads, forward with loss,
/// backward, clip, AdamW) for full fine-tuning, LoRA or DoRA, in F32, on pseudo-random tokens.
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Measure tokens/s, phase times and peak memory of training steps (F32).",
        discussion: """
            The peer script scripts/bench/peft_train_bench.py times the same step in PyTorch + PEFT. \
            --profile adds a per-op table (seconds per step, share, GFLOP/s); see docs/training-speed.md.
            """)

    @Option(name: .long, help: "Hugging Face model directory (config.json and *.safetensors) or a llama .gguf file.")
    var model: String

    @Option(name: .long, help: "full, lora or dora.")
    var method = "full"

    @Option(name: .long, help: "LoRA/DoRA rank.")
    var rank = 64

    @Option(name: .long, help: "LoRA/DoRA alpha (scale alpha/rank).")
    var alpha = 128.0

    @Option(name: .long, help: "Dropout on the adapter's input.")
    var dropout = 0.05

    @Option(name: .long, help: "all-linear or a list such as q_proj,v_proj.")
    var targets = "all-linear"

    @Option(name: .long, help: "Sequences per batch.")
    var batchSize = 4

    @Option(name: .long, help: "Tokens per sequence.")
    var seqLen = 256

    @Option(name: .customLong("repeat"), help: "Timed steps after one warm-up; the fastest is reported.")
    var repetitions = 3

    @Flag(name: .long, help: "Also time every op group and print a per-op table.")
    var profile = false

    @Flag(name: .long, help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard batchSize >= 1, seqLen >= 1, repetitions >= 1 else {
            throw ValidationError("--batch-size, --seq-len and --repeat must be at least 1.")
        }
        guard ["full", "lora", "dora"].contains(method) else {
            throw ValidationError("--method must be full, lora or dora, not '\(method)'.")
        }
        _ = try trainingMethod()
    }

    func trainingMethod() throws -> TrainingMethod {
        guard method != "full" else { return .full }
        let modules: [LoRATargetModule]
        switch LoRATargetModule.parseList(targets) {
        case .success(let list): modules = list
        case .failure(let error): throw ValidationError(error.description)
        }
        let settings = LoRASettings(rank: rank, alpha: alpha, dropout: dropout, useDoRA: method == "dora",
                                    targets: modules)
        do { try settings.validate() } catch { throw ValidationError("\(error)") }
        return .lora(settings)
    }

    func run() throws {
        let method = try trainingMethod()
        // A directory needs only config.json and the weights (no tokenizer: the tokens are random).
        let url = URL(fileURLWithPath: model)
        var isDirectory: ObjCBool = false
        let trainable: TrainableModel
        if FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory), isDirectory.boolValue {
            trainable = try TrainableModel.load(directory: url, batchSize: batchSize, sequenceLength: seqLen,
                                                method: method)
        } else {
            trainable = try ModelBundle(url: url).loadTrainableModel(batchSize: batchSize, sequenceLength: seqLen,
                                                                     method: method)
        }
        let estimate = TrainingMemoryEstimate(spec: trainable.spec, method: method, batchSize: batchSize,
                                              sequenceLength: seqLen)
        printToStandardError("Timing \(method.name) training steps of \(batchSize)×\(seqLen) tokens, "
                             + "best of \(repetitions) after one warm-up…")
        let r = try TrainingBenchmark.run(model: trainable, repeats: repetitions, profile: profile)
        let peak = TrainingBenchmark.peakResidentBytes
        if json {
            try printJSON(BenchTrainReport(result: r, threads: GEMM.maxThreads, peakBytes: peak,
                                           estimatedBytes: estimate.totalBytes, profiled: profile))
            return
        }
        print(String(format: "%@ %d×%d, %d threads, %d trainable parameters, loss %.4f", r.method, r.batchSize,
                     r.sequenceLength, GEMM.maxThreads, r.trainableParameters, r.loss))
        print(String(format: "step %.3f s = zero %.3f + forward %.3f + backward %.3f + clip %.3f + AdamW %.3f",
                     r.stepSeconds, r.zeroSeconds, r.forwardSeconds, r.backwardSeconds, r.clipSeconds,
                     r.optimizerSeconds))
        print(String(format: "%.1f tokens/s; peak RSS %.0f MB (estimate %.0f MB)", r.tokensPerSecond,
                     Double(peak) / 1e6, Double(estimate.totalBytes) / 1e6))
        for part in estimate.parts {
            print("  " + padded(part.name, 36) + String(format: " %8.0f MB", Double(part.bytes) / 1e6))
        }
        guard profile else { return }
        print(String(format: "\nper-op profile of that step (mean of the timed steps: %.3f s):", r.meanStepSeconds))
        print("op                                     seconds   share    GFLOP  GFLOP/s")
        var total = 0.0
        for e in r.profile {
            total += e.seconds
            let rate = e.gflopsPerSecond.map { String(format: "%8.1f", $0) } ?? "       -"
            let gflop = e.flops > 0 ? String(format: "%8.1f", e.flops / 1e9) : "       -"
            print(padded(e.category.name, 38) + String(format: " %8.3f  %5.1f%% ", e.seconds,
                                                           100 * e.seconds / r.stepSeconds) + gflop + " " + rate)
        }
        let rest = max(0, r.stepSeconds - total)
        print(padded("unprofiled (loops in the model files)", 38)
              + String(format: " %8.3f  %5.1f%%", rest, 100 * rest / r.stepSeconds))
    }
}

private func padded(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

/// `bench train --json`'s output (snake_case keys, stable order).
private struct BenchTrainReport: Encodable {
    struct Op: Encodable {
        var op: String, seconds: Double, share: Double, gflop: Double
    }
    var method: String, batchSize: Int, seqLen: Int, threads: Int, trainableParameters: Int
    var zeroGradSeconds: Double, forwardSeconds: Double, backwardSeconds: Double, clipSeconds: Double
    var optimizerSeconds: Double, stepSeconds: Double, tokensPerSecond: Double, loss: Double
    var peakRssMB: Double, estimatedMB: Double
    var profile: [Op]?

    enum CodingKeys: String, CodingKey {
        case method, batchSize = "batch_size", seqLen = "seq_len", threads
        case trainableParameters = "trainable_parameters", zeroGradSeconds = "zero_grad_seconds"
        case forwardSeconds = "forward_seconds", backwardSeconds = "backward_seconds", clipSeconds = "clip_seconds"
        case optimizerSeconds = "optimizer_seconds", stepSeconds = "step_seconds"
        case tokensPerSecond = "tokens_per_second", loss, peakRssMB = "peak_rss_mb", estimatedMB = "estimated_mb"
        case profile
    }

    init(result r: TrainingBenchmarkResult, threads: Int, peakBytes: Int, estimatedBytes: Int, profiled: Bool) {
        method = r.method; batchSize = r.batchSize; seqLen = r.sequenceLength; self.threads = threads
        trainableParameters = r.trainableParameters
        zeroGradSeconds = r.zeroSeconds; forwardSeconds = r.forwardSeconds; backwardSeconds = r.backwardSeconds
        clipSeconds = r.clipSeconds; optimizerSeconds = r.optimizerSeconds; stepSeconds = r.stepSeconds
        tokensPerSecond = r.tokensPerSecond; loss = Double(r.loss)
        peakRssMB = Double(peakBytes) / 1e6; estimatedMB = Double(estimatedBytes) / 1e6
        profile = profiled ? r.profile.map {
            Op(op: $0.category.name, seconds: $0.seconds, share: $0.seconds / r.stepSeconds, gflop: $0.flops / 1e9)
        } : nil
    }
}
