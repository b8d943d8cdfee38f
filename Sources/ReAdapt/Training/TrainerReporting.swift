import Foundation

/// What the trainer reports as it goes (the command prints these on stderr).
public enum TrainerEvent {
    case memory(TrainingMemoryEstimate, availableBytes: Int)
    case data(TrainingDataReport, validation: TrainingDataReport?)
    case started(totalSteps: Int, fromStep: Int, trainableValues: Int, resumedFrom: URL?)
    case step(TrainingStepRecord, totalSteps: Int, etaSeconds: Double)
    case validation(ValidationRecord)
    case checkpoint(URL, seconds: Double)
}

/// The end-of-run summary (`readapt train --json`; also `training_summary.json`, whose presence
/// marks a finished output directory).
public struct TrainingSummary: Codable, Equatable, Sendable {
    public static let fileName = "training_summary.json"
    public var method: String
    /// Optimizer steps completed in total.
    public var steps: Int
    /// Input tokens processed by this invocation (batch × seq-len × grad-accum per step).
    public var tokens: Int
    /// Tokens whose label counted, in this invocation.
    public var trainedTokens: Int
    /// `tokens` per second of training-step time (loading, validation and saving excluded).
    public var tokensPerSecond: Double
    public var finalTrainLoss: Double?
    public var finalValidationLoss: Double?
    public var output: String
    public var checkpoint: String
    /// Wall-clock seconds of this invocation, loading and writing included.
    public var elapsedSeconds: Double
    public var resumedFromStep: Int?

    enum CodingKeys: String, CodingKey {
        case method, steps, tokens, output, checkpoint
        case trainedTokens = "trained_tokens", tokensPerSecond = "tokens_per_second"
        case finalTrainLoss = "final_train_loss", finalValidationLoss = "final_validation_loss"
        case elapsedSeconds = "elapsed_seconds", resumedFromStep = "resumed_from_step"
    }

    /// Absent values are written as null, so the keys are always the same.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(method, forKey: .method); try c.encode(steps, forKey: .steps); try c.encode(tokens, forKey: .tokens)
        try c.encode(trainedTokens, forKey: .trainedTokens); try c.encode(tokensPerSecond, forKey: .tokensPerSecond)
        try c.encode(finalTrainLoss, forKey: .finalTrainLoss); try c.encode(finalValidationLoss, forKey: .finalValidationLoss)
        try c.encode(output, forKey: .output); try c.encode(checkpoint, forKey: .checkpoint)
        try c.encode(elapsedSeconds, forKey: .elapsedSeconds); try c.encode(resumedFromStep, forKey: .resumedFromStep)
    }
}
