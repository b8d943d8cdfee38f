import Foundation

/// Where the memory of a training run goes, computed from the same sizes the model allocates, so a
/// run that would not fit can be refused before anything is loaded.
public struct TrainingMemoryEstimate: Sendable, Equatable {
    /// (what, bytes), e.g. ("parameters (F32)", …), ("activations", …), ("optimizer state", …).
    public var parts: [(name: String, bytes: Int)]
    public var totalBytes: Int { parts.reduce(0) { $0 + $1.bytes } }

    public static func == (a: Self, b: Self) -> Bool {
        a.parts.map(\.name) == b.parts.map(\.name) && a.parts.map(\.bytes) == b.parts.map(\.bytes)
    }

    /// STUB: the integrator refines it with the LoRA/DoRA activations.
    public init(spec: ModelSpec, method: TrainingMethod, batchSize: Int, sequenceLength: Int) {
        let layout = ParameterLayout(spec: spec)
        let parameters = layout.totalCount * 4
        let trainable: Int
        if let settings = method.loraSettings {
            trainable = LoRALayout(spec: spec, settings: settings).totalCount
        } else {
            trainable = layout.totalCount
        }
        let activations = TrainingActivations.floatCount(spec: spec, batch: batchSize, seqLen: sequenceLength) * 4
        parts = [("model parameters (F32)", parameters),
                 ("trainable gradients", trainable * 4),
                 ("AdamW moments", trainable * 8),
                 ("activations and backward scratch", activations)]
    }
}
