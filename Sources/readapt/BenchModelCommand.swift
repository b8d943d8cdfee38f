import ArgumentParser
import Foundation
import ReAdapt

/// `readapt bench model`: prompt processing and greedy decoding speed of a checkpoint, measured
/// the way scripts/bench/torch_forward.py measures PyTorch, so the two can be run side by side.
struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Measure prefill and greedy-decode tokens/s and peak memory of a model."
    )

    @Option(name: .long, help: "Hugging Face model directory (config.json and *.safetensors).")
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
        let languageModel = try LanguageModel.load(directory: URL(fileURLWithPath: model), storage: precision)
        let loadSeconds = secondsSince(start)
        let spec = languageModel.spec
        guard promptTokens + decodeTokens <= spec.maxPositions else {
            throw CommandLineError("--prompt-tokens plus --decode-tokens exceed the model's \(spec.maxPositions) positions.")
        }
        // Fixed pseudo-random prompt, identical across runs and to the PyTorch script's choice.
        var rng = Xoshiro256(seed: 1)
        let prompt = (0..<promptTokens).map { _ in Int(rng.next() % UInt64(spec.vocabSize)) }
        let session = languageModel.makeSession(capacity: promptTokens + decodeTokens)
        var bestPrefill = Double.infinity, bestDecode = Double.infinity
        for run in 0...repetitions {  // run 0 warms up caches and allocations
            session.reset()
            var t = ContinuousClock.now
            var logits = try session.forward(prompt)
            let prefill = secondsSince(t)
            t = ContinuousClock.now
            for _ in 0..<decodeTokens {
                let next = logits.indices.max(by: { logits[$0] < logits[$1] })!
                logits = try session.forward([next])
            }
            let decode = secondsSince(t)
            if run > 0 {
                bestPrefill = min(bestPrefill, prefill)
                bestDecode = min(bestDecode, decode)
            }
            printToStandardError(String(format: "run %d/%d: prefill %.1f tokens/s, decode %.1f tokens/s",
                                        run, repetitions, Double(promptTokens) / prefill,
                                        Double(decodeTokens) / decode))
        }
        let output = Output(promptTokens: promptTokens, decodeTokens: decodeTokens,
                            precision: precision.rawValue, loadSeconds: loadSeconds,
                            prefillTokensPerSecond: Double(promptTokens) / bestPrefill,
                            decodeTokensPerSecond: Double(decodeTokens) / bestDecode,
                            peakResidentMegabytes: peakResidentMegabytes())
        if json {
            try printJSON(output)
        } else {
            print(String(format: "prefill %d tokens: %.1f tokens/s", promptTokens, output.prefillTokensPerSecond))
            print(String(format: "greedy decode %d tokens: %.1f tokens/s", decodeTokens, output.decodeTokensPerSecond))
            print(String(format: "peak resident memory: %.0f MB; load %.2f s", output.peakResidentMegabytes, loadSeconds))
        }
    }

    /// VmHWM from /proc/self/status (Linux), in megabytes; 0 where unavailable.
    func peakResidentMegabytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kilobytes = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kilobytes / 1024
        }
        return 0
    }
}
