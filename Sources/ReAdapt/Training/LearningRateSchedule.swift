import Foundation

/// transformers' get_linear_schedule_with_warmup, get_cosine_schedule_with_warmup and
/// get_constant_schedule_with_warmup as a function of the optimizer step.
///
/// `step` counts the optimizer steps already taken, exactly as torch's LambdaLR does: the first
/// optimizer step uses multiplier(0) (0 with any warmup), step i uses multiplier(i). So in a loop,
/// `optimizer.step(model: m, learningRate: schedule.learningRate(step: optimizer.step))`.
public struct LearningRateSchedule: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case linear, cosine, constant
    }

    public var kind: Kind
    public var baseLearningRate: Double
    public var warmupSteps: Int
    /// The training length (ignored by `.constant`): the linear and cosine schedules reach 0 here.
    public var totalSteps: Int
    /// Cosine only: 0.5 (transformers' default) decays once from the peak to 0.
    public var cycles: Double

    public init(kind: Kind, baseLearningRate: Double, warmupSteps: Int = 0, totalSteps: Int = 0,
                cycles: Double = 0.5) {
        self.kind = kind
        self.baseLearningRate = baseLearningRate
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.cycles = cycles
    }

    /// The factor on the base learning rate for the optimizer step `step` (0-based).
    public func multiplier(step: Int) -> Double {
        if step < warmupSteps {
            return Double(step) / Double(max(1, warmupSteps))
        }
        switch kind {
        case .constant:
            return 1
        case .linear:
            return max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmupSteps)))
        case .cosine:
            let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
            return max(0, 0.5 * (1 + cos(Double.pi * cycles * 2 * progress)))
        }
    }

    public func learningRate(step: Int) -> Double { baseLearningRate * multiplier(step: step) }
}
