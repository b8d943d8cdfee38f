import ArgumentParser
import Foundation
import ReAdapt

/// `readapt bench model`: prompt-processing and greedy-decoding speed and peak memory of a
/// checkpoint, measured as scripts/bench/torch_forward.py measures PyTorch, to run side by side.
struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Measure prefill and greedy-decode tokens/s and peak memory of a model.",
        discussion: """
        Prefill runs --prompt-tokens pseudo-random tokens in one batched pass (last-position \
        logits only); decode generates --decode-tokens greedily after a 16-token prompt, \
        ignoring EOS. The best of --repeat runs of each is reported.
        """
    )

    @Option(name: .long, help: "Hugging Face model directory (config.json and *.safetensors) or a llama .gguf file.")
    var model: String

    @Option(name: .long, help: "In-memory weight precision: bf16, f16 or f32.")
    var precision: WeightStorage = .bf16

    @Option(name: .long, help: "Prompt length for the prefill measurement.")
    var promptTokens = 512

    @Option(name: .long, help: "New tokens for the decode measurement.")
    var decodeTokens = 128

    @Option(name: .customLong("repeat"), help: "Timed repetitions; the best is reported.")
    var repetitions = 3

    @Flag(name: .long, help: "Print the results as JSON.")
    var json = false

    func validate() throws {
        guard promptTokens >= 1, decodeTokens >= 1, repetitions >= 1 else {
            throw ValidationError("--prompt-tokens, --decode-tokens and --repeat must be at least 1.")
        }
    }

    struct Output: Encodable {
        var promptTokens: Int
        var decodeTokens: Int
        var precision: String
        var loadSeconds: Double
        var prefillTokensPerSecond: Double
        var decodeTokensPerSecond: Double
        var peakResidentMegabytes: Double
        enum CodingKeys: String, CodingKey {
            case precision
            case promptTokens = "prompt_tokens"
            case decodeTokens = "decode_tokens"
            case loadSeconds = "load_seconds"
            case prefillTokensPerSecond = "prefill_tokens_per_second"
            case decodeTokensPerSecond = "decode_tokens_per_second"
            case peakResidentMegabytes = "peak_resident_mb"
        }
    }

    func run() throws {
        let start = ContinuousClock.now
        let languageModel = try ModelBundle(url: URL(fileURLWithPath: model)).loadModel(storage: precision)
        let loadSeconds = secondsSince(start)
        let limit = languageModel.spec.maxPositions
        guard promptTokens <= limit, 16 + decodeTokens <= limit else {
            throw CommandLineError("\(model) holds \(limit) positions, fewer than --prompt-tokens or 16 + --decode-tokens.")
        }
        printToStandardError("Timing \(promptTokens)-token prefill and \(decodeTokens)-token decode, best of \(repetitions)…")
        let result = try ModelBenchmark.run(model: languageModel, promptLength: promptTokens,
                                            newTokens: decodeTokens + 1, repeats: repetitions)
        let output = Output(promptTokens: promptTokens, decodeTokens: result.decodeTokens,
                            precision: precision.rawValue, loadSeconds: loadSeconds,
                            prefillTokensPerSecond: result.prefillTokensPerSecond,
                            decodeTokensPerSecond: result.decodeTokensPerSecond,
                            peakResidentMegabytes: peakResidentMegabytes())
        if json {
            try printJSON(output)
        } else {
            print(String(format: "prefill %d tokens: %.1f tokens/s", promptTokens, output.prefillTokensPerSecond))
            print(String(format: "greedy decode %d tokens: %.1f tokens/s", output.decodeTokens, output.decodeTokensPerSecond))
            print(String(format: "peak resident memory: %.0f MB; load %.2f s (%@ weights)",
                         output.peakResidentMegabytes, loadSeconds, precision.rawValue))
        }
    }

    /// VmHWM from /proc/self/status (Linux), in megabytes; 0 where unavailable.
    func peakResidentMegabytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return (line.split(separator: " ").compactMap { Double($0) }.first ?? 0) / 1024
        }
        return 0
    }
}
