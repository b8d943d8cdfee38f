import Foundation

/// Timings of whole training steps — zero gradients, forward (with loss), backward, global-norm
/// clip, AdamW step — on pseudo-random tokens (for `readapt bench train`). The reported step is
/// the fastest of the timed ones (after one untimed warm-up step that faults in the activation
/// pages and lets oneDNN build its kernels), with its per-op profile when profiled (on a shared
/// machine an average would mix in the steps another process slowed down).
public struct TrainingBenchmarkResult: Sendable, Equatable {
    public var method: String
    public var batchSize: Int
    public var sequenceLength: Int
    public var zeroSeconds: Double
    public var forwardSeconds: Double
    public var backwardSeconds: Double
    public var clipSeconds: Double
    public var optimizerSeconds: Double
    /// The loss of the last timed step.
    public var loss: Float
    public var trainableParameters: Int
    /// Per-op totals of the reported (fastest) step; empty unless profiled.
    public var profile: [TrainingProfiler.Entry]
    /// The mean step time over the timed steps (what the profile's shares are relative to).
    public var meanStepSeconds: Double
    public var stepSeconds: Double { zeroSeconds + forwardSeconds + backwardSeconds + clipSeconds + optimizerSeconds }
    public var tokensPerSecond: Double { Double(batchSize * sequenceLength) / stepSeconds }
}

public enum TrainingBenchmark {
    /// Times `repeats` steps after one warm-up; `profile` turns `TrainingProfiler` on for the timed
    /// steps (its cost is a clock read per op, well under 0.1% of a step).
    public static func run(model: TrainableModel, repeats: Int = 3, seed: UInt64 = 0, profile: Bool = false,
                           learningRate: Double = 1e-4, maxGradNorm: Double = 1) throws -> TrainingBenchmarkResult {
        var rng = Xoshiro256(seed: seed)
        let vocab = UInt64(model.spec.vocabSize), n = model.batchSize * model.sequenceLength
        let tokens = (0..<n).map { _ in Int(rng.next() % vocab) }
        let optimizer = try AdamW(model: model, options: AdamWOptions(learningRate: learningRate))
        let clock = ContinuousClock()
        var best: TrainingBenchmarkResult?
        var loss: Float = 0, totalSeconds = 0.0
        let wasEnabled = TrainingProfiler.isEnabled
        defer { TrainingProfiler.isEnabled = wasEnabled }
        let timedSteps = max(repeats, 1)
        for step in 0...timedSteps {
            TrainingProfiler.isEnabled = profile && step > 0
            TrainingProfiler.reset()
            var phases = [Double]()
            func phase(_ body: () throws -> Void) rethrows {
                let start = clock.now
                try body()
                phases.append((clock.now - start).seconds)
            }
            if model.method != .full { model.dropoutKey = UInt64(step) }
            phase { TrainingProfiler.measure(.zeroGradients) { model.zeroGradients() } }
            try phase { loss = try model.forward(inputIDs: tokens, labels: tokens) ?? 0 }
            try phase { try model.backward() }
            phase { _ = TrainingProfiler.measure(.clip) { GradientClipping.clipGlobalNorm(model, maxNorm: maxGradNorm) } }
            phase { TrainingProfiler.measure(.optimizer) { optimizer.step(model: model) } }
            guard step > 0 else { continue }  // warm-up
            let result = TrainingBenchmarkResult(
                method: model.method.name, batchSize: model.batchSize, sequenceLength: model.sequenceLength,
                zeroSeconds: phases[0], forwardSeconds: phases[1], backwardSeconds: phases[2], clipSeconds: phases[3],
                optimizerSeconds: phases[4], loss: loss, trainableParameters: model.trainable.count, profile: [],
                meanStepSeconds: 0)
            totalSeconds += result.stepSeconds
            if best == nil || result.stepSeconds < best!.stepSeconds {
                best = result
                best!.profile = profile ? TrainingProfiler.entries : []
            }
        }
        best!.loss = loss
        best!.meanStepSeconds = totalSeconds / Double(timedSteps)
        return best!
    }

    /// The process's peak resident set size so far, in bytes (getrusage's ru_maxrss).
    public static var peakResidentBytes: Int {
        var usage = rusage()
        #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Int(usage.ru_maxrss) * 1024  // kilobytes on Linux
        #else
        getrusage(RUSAGE_SELF, &usage)
        return Int(usage.ru_maxrss)  // bytes on Darwin
        #endif
    }
}

extension ModelBundle {
    /// The bundle's weights (safetensors directory or GGUF, dequantized) as an F32 trainable model
    /// with activations for `batchSize` × `sequenceLength`.
    public func loadTrainableModel(batchSize: Int, sequenceLength: Int, method: TrainingMethod = .full,
                                   seed: UInt64 = 0) throws -> TrainableModel {
        try TrainableModel(spec: spec, source: source, sourceName: url.path, batchSize: batchSize,
                           sequenceLength: sequenceLength, method: method, seed: seed)
    }
}
