import Foundation

/// The tensors a training run updates and their gradients, in two flat F32 buffers of one layout:
/// for full fine-tuning the model's own parameters (Hugging Face names), for LoRA/DoRA the adapter's
/// (PEFT's saved names, e.g. `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`).
/// The optimizer, gradient clipping and checkpoints see only this.
public struct TrainableTensors {
    public let slots: [ParameterSlot]
    public let values: TrainingBuffer
    public let gradients: TrainingBuffer
    private let index: [String: Int]

    init(slots: [ParameterSlot], values: TrainingBuffer, gradients: TrainingBuffer) {
        self.slots = slots
        self.values = values
        self.gradients = gradients
        index = Dictionary(uniqueKeysWithValues: slots.enumerated().map { ($1.name, $0) })
    }

    /// Number of trainable scalars.
    public var count: Int { values.count }

    public func slot(named name: String) -> ParameterSlot? { index[name].map { slots[$0] } }

    public func value(_ name: String) -> Tensor? {
        slot(named: name).map { Tensor(shape: $0.shape, scalars: values.array(offset: $0.offset, count: $0.count)) }
    }

    public func gradient(_ name: String) -> Tensor? {
        slot(named: name).map { Tensor(shape: $0.shape, scalars: gradients.array(offset: $0.offset, count: $0.count)) }
    }

    /// Overwrites one tensor (e.g. from a checkpoint being resumed); the shape must match.
    public func setValue(_ name: String, _ tensor: Tensor, source: String) throws {
        guard let slot = slot(named: name) else {
            throw ModelLoadError.missingTensor(source: source, name: name)
        }
        guard tensor.shape == slot.shape else {
            throw ModelLoadError.wrongShape(source: source, name: name, expected: slot.shape, found: tensor.shape)
        }
        tensor.scalars.withUnsafeBufferPointer {
            (values.pointer + slot.offset).update(from: $0.baseAddress!, count: slot.count)
        }
    }

    /// The flat-buffer ranges of the slots that satisfy `predicate`, adjacent ones merged.
    public func ranges(where predicate: (ParameterSlot) -> Bool) -> [Range<Int>] {
        var result: [Range<Int>] = []
        for slot in slots where predicate(slot) {
            let r = slot.offset..<(slot.offset + slot.count)
            if let last = result.last, last.upperBound == r.lowerBound {
                result[result.count - 1] = last.lowerBound..<r.upperBound
            } else {
                result.append(r)
            }
        }
        return result
    }
}
