import Foundation

/// Problems a caller can cause when loading or running a `TrainableModel`.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case invalidBatchShape(batch: Int, seqLen: Int)
    case wrongTokenCount(what: String, expected: Int, found: Int)
    case tokenOutOfRange(what: String, token: Int, vocabSize: Int)
    case sequenceTooLong(seqLen: Int, maxPositions: Int)
    case backwardWithoutLoss

    public var description: String {
        switch self {
        case .invalidBatchShape(let b, let t):
            return "A training batch needs a positive batch size and sequence length, not \(b)×\(t)."
        case .wrongTokenCount(let what, let expected, let found):
            return "The \(what) hold \(found) tokens but the batch is sized for \(expected)."
        case .tokenOutOfRange(let what, let token, let vocab):
            let allowed = what == "labels" ? " (the only other label allowed is -100, which is ignored)" : ""
            return "The \(what) contain id \(token), outside the model's vocabulary of \(vocab) tokens\(allowed)."
        case .sequenceTooLong(let t, let maxPositions):
            return "A sequence length of \(t) exceeds the model's max_position_embeddings of \(maxPositions)."
        case .backwardWithoutLoss:
            return "backward() needs a forward pass with labels first, so that there is a loss to differentiate."
        }
    }
}

/// A Llama-family model (Llama, Mistral, Qwen2, Gemma) in full F32 for training: all parameters in
/// one flat buffer laid out by `ParameterLayout` (Hugging Face names), the gradients in a second
/// buffer of the same layout, and the activations of a fixed batch × seqLen allocated once.
///
/// `forward` runs the model and, given labels, the causal-LM loss; `backward` ACCUMULATES the
/// gradient of that loss into `gradients` (call `zeroGradients()` between steps, or don't, to
/// accumulate over micro-batches).
public final class TrainableModel {
    public let spec: ModelSpec
    public let layout: ParameterLayout
    public let batchSize: Int
    public let sequenceLength: Int
    /// Every weight of the model (frozen under LoRA/DoRA).
    public let parameters: TrainingBuffer
    /// Full fine-tuning or a LoRA/DoRA adapter.
    public let method: TrainingMethod
    /// What the optimizer updates: `parameters` (full) or the adapter's tensors (LoRA/DoRA).
    public let trainable: TrainableTensors
    /// The gradients of `trainable`, laid out like it.
    public var gradients: TrainingBuffer { trainable.gradients }
    /// The adapter's layout (LoRA/DoRA only).
    let lora: LoRALayout?
    /// Training mode for LoRA dropout: the key of this forward pass's dropout masks, or nil for
    /// evaluation (no dropout, as PEFT in `model.eval()`). Masks are a pure function of (key, layer,
    /// module, element), so a trainer that sets key = f(seed, micro-step) replays the same masks
    /// after a resume without saving any RNG state. Ignored for full fine-tuning.
    public var dropoutKey: UInt64?
    /// `dropoutKey` as the last forward pass used it (its backward replays the same masks).
    private(set) var forwardDropoutKey: UInt64?
    let loraActivations: LoRAActivations?
    /// Testing only: reuse the DoRA row norms of the previous forward instead of recomputing them,
    /// which makes the forward the function whose gradient the (detached-norm) backward computes,
    /// so finite differences can check it.
    var holdsDoRANorms = false
    let activations: TrainingActivations
    private let ropeCos: [Float], ropeSin: [Float]  // [seqLen, headDim/2]
    private(set) var tokens: [Int] = []
    /// Labels shifted left by one within each sequence (what row r's logits predict); -100 ignored.
    private(set) var targets: [Int]?

    /// Reads every parameter from `source` (F32 or any dtype the source converts), checking shapes.
    /// With `.lora`, the base is frozen and a fresh adapter is initialised as PEFT does (A
    /// Kaiming-uniform from `seed`, B zero, DoRA's magnitude the row norms of W).
    public init(spec: ModelSpec, source: TensorSource, sourceName: String, batchSize: Int,
                sequenceLength: Int, method: TrainingMethod = .full, seed: UInt64 = 0) throws {
        try method.loraSettings?.validate()
        guard batchSize > 0, sequenceLength > 0 else {
            throw TrainingError.invalidBatchShape(batch: batchSize, seqLen: sequenceLength)
        }
        guard sequenceLength <= spec.maxPositions else {
            throw TrainingError.sequenceTooLong(seqLen: sequenceLength, maxPositions: spec.maxPositions)
        }
        let layout = ParameterLayout(spec: spec)
        let parameters = TrainingBuffer(count: layout.totalCount)
        for slot in layout.slots {
            guard source.info(slot.name) != nil else {
                throw ModelLoadError.missingTensor(source: sourceName, name: slot.name)
            }
            let tensor = try source.load(slot.name)
            guard tensor.shape == slot.shape else {
                throw ModelLoadError.wrongShape(source: sourceName, name: slot.name, expected: slot.shape,
                                                found: tensor.shape)
            }
            tensor.scalars.withUnsafeBufferPointer {
                (parameters.pointer + slot.offset).update(from: $0.baseAddress!, count: slot.count)
            }
            // Drop the file's mapped pages once copied, so loading holds the F32 copy, not both.
            (source as? SafetensorsCheckpoint)?.releasePages(slot.name)
        }
        self.spec = spec
        self.layout = layout
        self.parameters = parameters
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
        self.method = method
        if let settings = method.loraSettings {
            let lora = LoRALayout(spec: spec, settings: settings)
            self.lora = lora
            loraActivations = LoRAActivations(layout: lora, rows: batchSize * sequenceLength)
            trainable = TrainableTensors(slots: lora.slots, values: TrainingBuffer(count: lora.totalCount),
                                         gradients: TrainingBuffer(count: lora.totalCount))
        } else {
            lora = nil
            loraActivations = nil
            trainable = TrainableTensors(slots: layout.slots, values: parameters,
                                         gradients: TrainingBuffer(count: layout.totalCount))
        }
        activations = TrainingActivations(spec: spec, batch: batchSize, seqLen: sequenceLength)
        // As transformers: angle = float(pos) · inv_freq in F32, then cos/sin of it.
        let inv = spec.inverseFrequencies, half = spec.headDim / 2
        var cos = [Float](repeating: 0, count: sequenceLength * half), sin = cos
        for pos in 0..<sequenceLength {
            for i in 0..<half {
                let angle = Float(pos) * inv[i]
                cos[pos * half + i] = Float(Foundation.cos(Double(angle)))
                sin[pos * half + i] = Float(Foundation.sin(Double(angle)))
            }
        }
        ropeCos = cos
        ropeSin = sin
        if lora != nil { initializeAdapter(seed: seed) }
    }

    /// Loads config.json and the safetensors weights of a Hugging Face model directory.
    public static func load(directory: URL, batchSize: Int, sequenceLength: Int, method: TrainingMethod = .full,
                            seed: UInt64 = 0) throws -> TrainableModel {
        let configFile = directory.appendingPathComponent("config.json")
        let spec = try ModelSpec(ModelConfig.load(configFile), file: configFile)
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        return try TrainableModel(spec: spec, source: checkpoint, sourceName: directory.path,
                                  batchSize: batchSize, sequenceLength: sequenceLength, method: method, seed: seed)
    }

    /// A copy of the named parameter, or nil if the model has none by that name.
    public func parameter(_ name: String) -> Tensor? {
        layout.slot(named: name).map { Tensor(shape: $0.shape, scalars: parameters.array(offset: $0.offset, count: $0.count)) }
    }

    /// A copy of the named trainable tensor's accumulated gradient (a model parameter's name for
    /// full fine-tuning, an adapter tensor's PEFT name for LoRA/DoRA).
    public func gradient(_ name: String) -> Tensor? { trainable.gradient(name) }

    /// The logits of the last forward pass, [batch, seqLen, vocab].
    public var logits: Tensor {
        Tensor(shape: [batchSize, sequenceLength, spec.vocabSize], scalars: activations.logits.array())
    }

    /// Floats held by the activation workspace (saved activations and backward scratch).
    public var activationFloatCount: Int { activations.floatCount + (loraActivations?.floatCount ?? 0) }

    public func zeroGradients() { gradients.zero() }

    // MARK: - Forward

    /// Runs the batch `inputIDs` ([batch·seqLen], row-major by sequence) and returns the mean
    /// cross-entropy of predicting `labels` — given as transformers takes them, unshifted: the
    /// logits at position t are scored against labels[t + 1] of the same sequence, and -100 is
    /// ignored — or nil without labels.
    @discardableResult
    public func forward(inputIDs: [Int], labels: [Int]? = nil) throws -> Float? {
        let n = batchSize * sequenceLength, vocab = spec.vocabSize
        guard inputIDs.count == n else { throw TrainingError.wrongTokenCount(what: "input ids", expected: n, found: inputIDs.count) }
        if let bad = inputIDs.first(where: { $0 < 0 || $0 >= vocab }) {
            throw TrainingError.tokenOutOfRange(what: "input ids", token: bad, vocabSize: vocab)
        }
        if let labels {
            guard labels.count == n else { throw TrainingError.wrongTokenCount(what: "labels", expected: n, found: labels.count) }
            // PyTorch's cross_entropy rejects negative targets other than its ignore_index -100.
            if let bad = labels.first(where: { $0 >= vocab || ($0 < 0 && $0 != -100) }) {
                throw TrainingError.tokenOutOfRange(what: "labels", token: bad, vocabSize: vocab)
            }
        }
        tokens = inputIDs
        forwardDropoutKey = dropoutKey
        targets = labels.map { labels in
            (0..<n).map { r in r % sequenceLength == sequenceLength - 1 ? -100 : labels[r + 1] }
        }
        let p = parameters.pointer, a = activations, h = spec.hiddenSize
        TrainingOps.embeddingForward(tokens, table: p + layout.embedding, width: h, scale: spec.embeddingScale,
                                     into: a.layers.first?.input.pointer ?? a.output.pointer)
        for l in 0..<spec.layerCount {
            let next = l + 1 < spec.layerCount ? a.layers[l + 1].input.pointer : a.output.pointer
            layerForward(l, into: next)
        }
        TrainingOps.rmsNormForward(a.output.pointer, rows: n, width: h, weight: p + layout.finalNorm,
                                   eps: spec.rmsNormEps, addsOne: spec.normAddsOne, into: a.finalNorm.pointer,
                                   rstd: a.finalRstd.pointer)
        TrainingOps.linearForward(a.finalNorm.pointer, rows: n, inFeatures: h, weight: p + layout.head, bias: nil,
                                  outFeatures: vocab, into: a.logits.pointer)
        guard let targets else { return nil }
        return TrainingOps.crossEntropyForward(a.logits.pointer, targets: targets, vocab: vocab).loss
    }

    private func layerForward(_ l: Int, into output: UnsafeMutablePointer<Float>) {
        let s = spec, w = layout.layers[l], a = activations.layers[l]
        let n = batchSize * sequenceLength, h = s.hiddenSize

        TrainingOps.rmsNormForward(a.input.pointer, rows: n, width: h, weight: parameters.pointer + w.inputNorm,
                                   eps: s.rmsNormEps, addsOne: s.normAddsOne, into: a.attentionNorm.pointer,
                                   rstd: a.attentionRstd.pointer)
        let xn = UnsafePointer(a.attentionNorm.pointer)
        project(l, .q, xn, weight: w.q, bias: w.qBias, into: a.q.pointer)
        project(l, .k, xn, weight: w.k, bias: w.kBias, into: a.k.pointer)
        project(l, .v, xn, weight: w.v, bias: w.vBias, into: a.v.pointer)
        ropeTables { cos, sin in
            TrainingOps.ropeForward(a.q.pointer, rows: n, seqLen: sequenceLength, heads: s.headCount,
                                    headDim: s.headDim, cos: cos, sin: sin)
            TrainingOps.ropeForward(a.k.pointer, rows: n, seqLen: sequenceLength, heads: s.kvHeadCount,
                                    headDim: s.headDim, cos: cos, sin: sin)
        }
        TrainingOps.attentionForward(q: a.q.pointer, k: a.k.pointer, v: a.v.pointer, shape: attentionShape,
                                     probabilities: a.probabilities.pointer, into: a.attention.pointer)
        project(l, .o, a.attention.pointer, weight: w.o, bias: w.oBias, into: a.middle.pointer)
        for i in 0..<(n * h) { a.middle.pointer[i] += a.input.pointer[i] }

        TrainingOps.rmsNormForward(a.middle.pointer, rows: n, width: h, weight: parameters.pointer + w.postNorm,
                                   eps: s.rmsNormEps, addsOne: s.normAddsOne, into: a.mlpNorm.pointer,
                                   rstd: a.mlpRstd.pointer)
        project(l, .gate, a.mlpNorm.pointer, weight: w.gate, bias: w.gateBias, into: a.gate.pointer)
        project(l, .up, a.mlpNorm.pointer, weight: w.up, bias: w.upBias, into: a.up.pointer)
        TrainingOps.gatedActivationForward(a.gate.pointer, up: a.up.pointer, count: n * s.intermediateSize,
                                           activation: s.activation, into: a.activated.pointer)
        project(l, .down, a.activated.pointer, weight: w.down, bias: w.downBias, into: output)
        for i in 0..<(n * h) { output[i] += a.middle.pointer[i] }
    }

    /// One linear layer of decoder layer `l`: y = x·Wᵀ + b, plus its LoRA/DoRA terms when adapted.
    private func project(_ l: Int, _ module: LoRATargetModule, _ x: UnsafePointer<Float>, weight: Int, bias: Int?,
                         into y: UnsafeMutablePointer<Float>) {
        let (inF, outF) = LoRALayout.features(module, spec: spec), p = parameters.pointer
        TrainingOps.linearForward(x, rows: batchSize * sequenceLength, inFeatures: inF, weight: p + weight,
                                  bias: bias.map { UnsafePointer(p + $0) }, outFeatures: outF, into: y)
        adapterForward(l, module, input: x, weight: weight, bias: bias, output: y)
    }

    func ropeTables(_ body: (UnsafePointer<Float>, UnsafePointer<Float>) -> Void) {
        ropeCos.withUnsafeBufferPointer { cos in
            ropeSin.withUnsafeBufferPointer { sin in body(cos.baseAddress!, sin.baseAddress!) }
        }
    }

    var attentionShape: AttentionShape {
        AttentionShape(batch: batchSize, seqLen: sequenceLength, heads: spec.headCount, kvHeads: spec.kvHeadCount,
                       headDim: spec.headDim, slidingWindow: spec.slidingWindow)
    }
}
