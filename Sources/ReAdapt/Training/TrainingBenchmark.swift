import Foundation

/// Best-of-N timings of one full-fine-tuning step's forward (with loss) and backward on
/// pseudo-random tokens (for `readapt bench train`).
public struct TrainingBenchmarkResult: Sendable, Equatable {
    public var batchSize: Int
    public var sequenceLength: Int
    public var forwardSeconds: Double
    public var backwardSeconds: Double
    public var loss: Float
    public var tokensPerSecond: Double { Double(batchSize * sequenceLength) / (forwardSeconds + backwardSeconds) }
}

public enum TrainingBenchmark {
    public static func run(model: TrainableModel, repeats: Int = 3, seed: UInt64 = 0) throws -> TrainingBenchmarkResult {
        var rng = Xoshiro256(seed: seed)
        let vocab = UInt64(model.spec.vocabSize), n = model.batchSize * model.sequenceLength
        let tokens = (0..<n).map { _ in Int(rng.next() % vocab) }
        let clock = ContinuousClock()
        var forward = Double.infinity, backward = Double.infinity, loss: Float = 0
        for _ in 0..<max(repeats, 1) {
            model.zeroGradients()
            var start = clock.now
            loss = try model.forward(inputIDs: tokens, labels: tokens) ?? 0
            forward = min(forward, (clock.now - start).seconds)
            start = clock.now
            try model.backward()
            backward = min(backward, (clock.now - start).seconds)
        }
        return TrainingBenchmarkResult(batchSize: model.batchSize, sequenceLength: model.sequenceLength,
                                       forwardSeconds: forward, backwardSeconds: backward, loss: loss)
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
