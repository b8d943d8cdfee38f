import CKernels
import Foundation

/// Hyperparameters of `AdamW`, with torch.optim.AdamW's defaults.
public struct AdamWOptions: Sendable, Equatable, Codable {
    public var learningRate: Double
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    public var weightDecay: Double

    public init(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
                epsilon: Double = 1e-8, weightDecay: Double = 0.01) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }
}

/// A snapshot of `AdamW`'s state (for checkpoints): the step count and both moment buffers,
/// laid out like the parameters.
public struct AdamWState: Sendable, Equatable {
    public var step: Int
    public var expAvg: [Float]
    public var expAvgSq: [Float]

    public init(step: Int, expAvg: [Float], expAvgSq: [Float]) {
        self.step = step
        self.expAvg = expAvg
        self.expAvgSq = expAvgSq
    }
}

/// Problems a caller can cause with the optimizer.
public enum OptimizerError: Error, CustomStringConvertible, Equatable {
    case stateSizeMismatch(expected: Int, found: Int)
    case negativeStep(Int)
    case rangeOutOfBounds(lower: Int, upper: Int, parameterCount: Int)

    public var description: String {
        switch self {
        case .stateSizeMismatch(let expected, let found):
            return "The optimizer state holds \(found) values per moment but the model has \(expected) parameters."
        case .negativeStep(let step):
            return "The optimizer state's step count \(step) is negative."
        case .rangeOutOfBounds(let lower, let upper, let count):
            return "The no-decay range \(lower)..<\(upper) lies outside the \(count) parameters."
        }
    }
}

/// torch.optim.AdamW (amsgrad and maximize off) over one flat F32 parameter buffer: per element,
/// with t the step count after incrementing and lr the learning rate of this step,
///
///     p  ← p·(1 − lr·wd)                       decoupled weight decay, before the Adam update
///     m  ← m + (1 − β1)·(g − m)                 (torch's lerp)
///     v  ← β2·v + (1 − β2)·g²
///     p  ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)
///
/// The scalar factors are computed in Double and rounded to Float, as torch does with its Python
/// float hyperparameters; the element arithmetic is F32 in torch's order without fused
/// multiply-adds (`ck_adamw_update`, AVX2 when available, bit-identical to its scalar reference). `noDecayRanges` (e.g.
/// norms and biases, see `TrainableTensors.ranges(where:)`) play the role of a second parameter
/// group with weight_decay 0. All parameters share one step count (every parameter gets a
/// gradient each step, so torch's per-parameter counts are equal).
public final class AdamW {
    public var options: AdamWOptions
    public let parameterCount: Int
    /// First moment (torch's `exp_avg`), same layout as the parameters.
    public let expAvg: TrainingBuffer
    /// Second moment (torch's `exp_avg_sq`).
    public let expAvgSq: TrainingBuffer
    /// Optimizer steps taken so far (torch's `state["step"]`).
    public private(set) var step = 0
    /// Sorted, non-overlapping parameter ranges that get no weight decay.
    public let noDecayRanges: [Range<Int>]

    public init(parameterCount: Int, options: AdamWOptions = AdamWOptions(),
                noDecayRanges: [Range<Int>] = []) throws {
        for r in noDecayRanges where r.lowerBound < 0 || r.upperBound > parameterCount {
            throw OptimizerError.rangeOutOfBounds(lower: r.lowerBound, upper: r.upperBound,
                                                  parameterCount: parameterCount)
        }
        self.parameterCount = parameterCount
        self.options = options
        self.noDecayRanges = noDecayRanges.sorted { $0.lowerBound < $1.lowerBound }
        expAvg = TrainingBuffer(count: parameterCount)
        expAvgSq = TrainingBuffer(count: parameterCount)
    }

    /// For a `TrainableModel`'s trainable tensors; `noDecay` picks the slots without weight decay
    /// (none by default).
    public convenience init(model: TrainableModel, options: AdamWOptions = AdamWOptions(),
                            noDecay: (ParameterSlot) -> Bool = { _ in false }) throws {
        try self.init(parameterCount: model.trainable.count, options: options,
                      noDecayRanges: model.trainable.ranges(where: noDecay))
    }

    /// One optimizer step at `learningRate` (default: `options.learningRate`, e.g. pass a
    /// schedule's `learningRate(step: optimizer.step)`).
    public func step(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
                     learningRate: Double? = nil) {
        step += 1
        let lr = learningRate ?? options.learningRate
        let t = Double(step)
        let biasCorrection1 = 1 - pow(options.beta1, t)
        let biasCorrection2Sqrt = (1 - pow(options.beta2, t)).squareRoot()
        var scalars = ck_adamw_scalars(
            decay: Float(1 - lr * options.weightDecay), one_minus_beta1: Float(1 - options.beta1),
            beta2: Float(options.beta2), one_minus_beta2: Float(1 - options.beta2),
            bias_correction2_sqrt: Float(biasCorrection2Sqrt), epsilon: Float(options.epsilon),
            negative_step_size: Float(-(lr / biasCorrection1)))
        var noDecay = scalars
        noDecay.decay = 1
        // Walk the buffer in runs: decayed stretches between the no-decay ranges.
        func update(_ range: Range<Int>, _ s: inout ck_adamw_scalars) {
            guard !range.isEmpty else { return }
            let o = range.lowerBound
            ck_adamw_update(parameters + o, gradients + o, expAvg.pointer + o, expAvgSq.pointer + o, range.count, &s)
        }
        var start = 0
        for r in noDecayRanges {
            update(start..<max(start, r.lowerBound), &scalars)
            update(max(start, r.lowerBound)..<r.upperBound, &noDecay)
            start = max(start, r.upperBound)
        }
        update(start..<parameterCount, &scalars)
    }

    /// One step on a model's parameters with its (already clipped) gradients.
    public func step(model: TrainableModel, learningRate: Double? = nil) {
        precondition(model.trainable.count == parameterCount, "AdamW was sized for another model")
        step(parameters: model.trainable.values.pointer, gradients: model.trainable.gradients.pointer,
             learningRate: learningRate)
    }

    /// A copy of the state, for a checkpoint.
    public var state: AdamWState {
        AdamWState(step: step, expAvg: expAvg.array(), expAvgSq: expAvgSq.array())
    }

    /// Restores a saved state (e.g. on resume); the sizes must match this optimizer's.
    public func restore(_ state: AdamWState) throws {
        guard state.step >= 0 else { throw OptimizerError.negativeStep(state.step) }
        for moment in [state.expAvg, state.expAvgSq] where moment.count != parameterCount {
            throw OptimizerError.stateSizeMismatch(expected: parameterCount, found: moment.count)
        }
        state.expAvg.withUnsafeBufferPointer { expAvg.pointer.update(from: $0.baseAddress!, count: parameterCount) }
        state.expAvgSq.withUnsafeBufferPointer { expAvgSq.pointer.update(from: $0.baseAddress!, count: parameterCount) }
        step = state.step
    }
}
