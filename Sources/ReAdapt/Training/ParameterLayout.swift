import Foundation

/// A fixed-size, zero-initialised F32 buffer whose pointer never moves: the parameters, the
/// gradients and every activation of training live in these, allocated once.
public final class TrainingBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }

    public func zero() { pointer.update(repeating: 0, count: count) }

    /// A copy of `count` values from `offset` on.
    func array(offset: Int = 0, count: Int? = nil) -> [Float] {
        Array(UnsafeBufferPointer(start: pointer + offset, count: count ?? self.count - offset))
    }
}

/// Where one named parameter (Hugging Face name, e.g. `model.layers.0.self_attn.q_proj.weight`)
/// sits in the flat parameter buffer; its gradient sits at the same offset of the gradient buffer.
public struct ParameterSlot: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var offset: Int
    public var count: Int { shape.reduce(1, *) }
}

/// The offsets of one decoder layer's parameters (nil: the architecture has no such bias).
struct LayerSlots {
    var inputNorm: Int
    var q: Int, k: Int, v: Int
    var qBias: Int?, kBias: Int?, vBias: Int?
    var o: Int
    var oBias: Int?
    var postNorm: Int
    var gate: Int, up: Int, down: Int
    var gateBias: Int?, upBias: Int?, downBias: Int?
}

/// The layout of a model's trainable parameters in one flat buffer, in the order of PyTorch's
/// `named_parameters()`: the embedding, each layer (norm, q/k/v/o with biases, norm, gate/up/down),
/// the final norm, and `lm_head.weight` unless the head is tied to the embedding.
public struct ParameterLayout: Sendable {
    public let slots: [ParameterSlot]
    public let totalCount: Int
    let embedding: Int
    let layers: [LayerSlots]
    let finalNorm: Int
    /// lm_head.weight's offset, or the embedding's when tied (so the head's gradient lands there).
    let head: Int
    private let index: [String: Int]

    public init(spec: ModelSpec) {
        var slots: [ParameterSlot] = []
        var next = 0
        @discardableResult
        func add(_ name: String, _ shape: [Int]) -> Int {
            let slot = ParameterSlot(name: name, shape: shape, offset: next)
            slots.append(slot)
            next += slot.count
            return slot.offset
        }
        let h = spec.hiddenSize, inter = spec.intermediateSize, q = spec.queryWidth, kv = spec.kvWidth
        embedding = add("model.embed_tokens.weight", [spec.vocabSize, h])
        var layers: [LayerSlots] = []
        for i in 0..<spec.layerCount {
            let p = "model.layers.\(i)."
            let a = p + "self_attn.", m = p + "mlp."
            let inputNorm = add(p + "input_layernorm.weight", [h])
            let qw = add(a + "q_proj.weight", [q, h])
            let qb = spec.qkvBias ? add(a + "q_proj.bias", [q]) : nil
            let kw = add(a + "k_proj.weight", [kv, h])
            let kb = spec.qkvBias ? add(a + "k_proj.bias", [kv]) : nil
            let vw = add(a + "v_proj.weight", [kv, h])
            let vb = spec.qkvBias ? add(a + "v_proj.bias", [kv]) : nil
            let ow = add(a + "o_proj.weight", [h, q])
            let ob = spec.outputBias ? add(a + "o_proj.bias", [h]) : nil
            let gw = add(m + "gate_proj.weight", [inter, h])
            let gb = spec.mlpBias ? add(m + "gate_proj.bias", [inter]) : nil
            let uw = add(m + "up_proj.weight", [inter, h])
            let ub = spec.mlpBias ? add(m + "up_proj.bias", [inter]) : nil
            let dw = add(m + "down_proj.weight", [h, inter])
            let db = spec.mlpBias ? add(m + "down_proj.bias", [h]) : nil
            let postNorm = add(p + "post_attention_layernorm.weight", [h])
            layers.append(LayerSlots(inputNorm: inputNorm, q: qw, k: kw, v: vw, qBias: qb, kBias: kb, vBias: vb,
                                     o: ow, oBias: ob, postNorm: postNorm, gate: gw, up: uw, down: dw,
                                     gateBias: gb, upBias: ub, downBias: db))
        }
        self.layers = layers
        finalNorm = add("model.norm.weight", [h])
        head = spec.tiedHead ? embedding : add("lm_head.weight", [spec.vocabSize, h])
        self.slots = slots
        totalCount = next
        index = Dictionary(uniqueKeysWithValues: slots.enumerated().map { ($1.name, $0) })
    }

    public func slot(named name: String) -> ParameterSlot? { index[name].map { slots[$0] } }
}
