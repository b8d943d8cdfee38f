import ArgumentParser
import Foundation
import ReAdapt

/// `readapt bench optim`: one AdamW step and one global-norm clip over N F32 parameters (the peer
/// is scripts/bench/torch_adamw_bench.py).
struct BenchOptim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optim",
        abstract: "Time one AdamW step and one gradient clip over N parameters (F32).")

    @Option(name: .long, help: "Parameter count (default: SmolLM2-135M's 134,515,008).")
    var parameters = 134_515_008

    @Option(name: .customLong("repeat"), help: "Timed repetitions; the best is reported.")
    var repetitions = 5

    func validate() throws {
        guard parameters >= 1, repetitions >= 1 else {
            throw ValidationError("--parameters and --repeat must be at least 1.")
        }
    }

    func run() throws {
        let n = parameters
        let p = TrainingBuffer(count: n), g = TrainingBuffer(count: n)
        for i in 0..<n { p.pointer[i] = Float(i % 97) * 0.01; g.pointer[i] = Float(i % 89) * 0.001 - 0.04 }
        let optimizer = try AdamW(parameterCount: n, options: AdamWOptions(learningRate: 1e-3, weightDecay: 0.01))
        var bestStep = Double.infinity, bestClip = Double.infinity
        for _ in 0..<repetitions {
            var start = ContinuousClock.now
            optimizer.step(parameters: p.pointer, gradients: g.pointer)
            bestStep = min(bestStep, secondsSince(start))
            start = ContinuousClock.now
            // maxNorm 1e9 never scales: this times the norm, as torch's clip_grad_norm_(…, 1e9) does.
            GradientClipping.clipGlobalNorm(g.pointer, count: n, maxNorm: 1e9)
            bestClip = min(bestClip, secondsSince(start))
        }
        try printJSON(["parameters": Double(n), "adamw_step_seconds": bestStep, "clip_seconds": bestClip,
                       "adamw_gb_per_second": Double(n) * 4 * 7 / bestStep / 1e9])
    }
}
