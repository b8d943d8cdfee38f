import CKernels
import Foundation

/// Problems running a model on given tokens.
public enum ModelRunError: Error, CustomStringConvertible, Equatable {
    case tokenOutOfRange(token: Int, vocabSize: Int)
    case contextFull(capacity: Int, needed: Int)
    case emptyInput

    public var description: String {
        switch self {
        case .tokenOutOfRange(let token, let vocab):
            return "Token id \(token) is outside the model's vocabulary of \(vocab) tokens."
        case .contextFull(let capacity, let needed):
            return "The input needs \(needed) positions but the session holds at most \(capacity)."
        case .emptyInput:
            return "The model was given no tokens to process."
        }
    }
}

/// A growable F32 buffer with a stable pointer between growths (scratch space and KV cache).
final class FloatBuffer {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var count: Int

    init(count: Int) {
        self.count = max(count, 1)
        pointer = .allocate(capacity: self.count)
        pointer.initialize(repeating: 0, count: self.count)
    }

    deinit { pointer.deallocate() }

    /// Makes room for `needed` floats; contents are not preserved.
    func reserve(_ needed: Int) {
        guard needed > count else { return }
        pointer.deallocate()
        count = needed
        pointer = .allocate(capacity: needed)
        pointer.initialize(repeating: 0, count: needed)
    }
}

/// The running state of one sequence: KV cache, rotary tables and scratch buffers, allocated once and
/// grown only when a longer context or a larger chunk is seen, so decoding allocates nothing per token.
///
/// `forward` follows llama2.c's run.c: embed, then per layer norm → fused qkv → rope → cache →
/// attention → o_proj (+residual) → norm → fused gate/up → activation → down (+residual), then the
/// final norm and the LM head on the rows whose logits are wanted.
public final class InferenceSession {
    public let model: LanguageModel
    /// The most positions this session will hold.
    public let capacity: Int
    /// Positions already in the cache; the next token goes here.
    public private(set) var position = 0
    /// Longest run of tokens processed in one pass; longer inputs are processed in chunks.
    public var maxChunk = 512
    /// Query rows per attention GEMM in prefill; smaller blocks skip more of the masked triangle.
    var attentionRowBlock = 128
    /// Attention through per-KV-group GEMMs (true) or the mk_attend kernel on GCD (false); nil
    /// chooses GEMMs exactly when the linear layers also use the BLAS (more rows than
    /// `WeightMatrix.gemvRowLimit`). Mixing the two thread pools in one pass costs dearly: the
    /// BLAS's OpenMP worker keeps spinning after each product and competes with GCD's workers
    /// for the cores (BENCHMARKS.md, "Prefill threading").
    var useGEMMAttention: Bool? = InferenceSession.attentionOverride

    /// READAPT_GEMM_ATTENTION=1 / 0 forces one attention path (for measurements).
    private static let attentionOverride: Bool? = {
        switch ProcessInfo.processInfo.environment["READAPT_GEMM_ATTENTION"] {
        case "1": return true
        case "0": return false
        default: return nil
        }
    }()

    private let spec: ModelSpec
    private let inverseFrequencies: [Float]
    /// Positions the cache and rotary tables currently have room for.
    private var allocatedPositions = 0
    private var keys: [FloatBuffer]     // per layer: [kvHeads][allocatedPositions][headDim]
    private var values: [FloatBuffer]
    private let ropeCos = FloatBuffer(count: 1), ropeSin = FloatBuffer(count: 1)  // [positions][headDim/2]
    private let x = FloatBuffer(count: 1), xn = FloatBuffer(count: 1)
    private let qkv = FloatBuffer(count: 1), attention = FloatBuffer(count: 1)
    private let gateUp = FloatBuffer(count: 1), activated = FloatBuffer(count: 1)
    private let scores = FloatBuffer(count: 1)
    private let attentionScratch = FloatBuffer(count: 1)  // stacked queries and outputs of one block
    private var logits: [Float] = []

    init(model: LanguageModel, capacity: Int) {
        self.model = model
        self.capacity = max(capacity, 1)
        spec = model.spec
        inverseFrequencies = spec.inverseFrequencies
        keys = (0..<spec.layerCount).map { _ in FloatBuffer(count: 1) }
        values = (0..<spec.layerCount).map { _ in FloatBuffer(count: 1) }
    }

    /// Forgets the sequence (the buffers are kept).
    public func reset() { position = 0 }

    /// Forgets every position from `newPosition` on, keeping the cache before it, so a sequence that
    /// shares a prefix with the cached one continues from there (chat turns). Positions beyond the
    /// current one are not invented: the value is clamped to `0...position`.
    public func rewind(to newPosition: Int) { position = min(max(newPosition, 0), position) }

    /// Runs `tokens` at positions `position ..< position + tokens.count`, extending the cache.
    /// Returns the logits of the last token ([vocab]), or of every token ([tokens.count × vocab],
    /// row-major) when `allPositions` is true.
    @discardableResult
    public func forward(_ tokens: [Int], allPositions: Bool = false) throws -> [Float] {
        try forward(tokens, logitRows: allPositions ? 0..<tokens.count : max(tokens.count - 1, 0)..<tokens.count)
    }

    /// Like `forward(_:allPositions:)`, returning logits only for the tokens at indices `logitRows`
    /// of `tokens` ([logitRows.count × vocab]); the LM head runs on those rows only.
    @discardableResult
    public func forward(_ tokens: [Int], logitRows: Range<Int>) throws -> [Float] {
        guard !tokens.isEmpty else { throw ModelRunError.emptyInput }
        for t in tokens where t < 0 || t >= spec.vocabSize {
            throw ModelRunError.tokenOutOfRange(token: t, vocabSize: spec.vocabSize)
        }
        guard position + tokens.count <= capacity else {
            throw ModelRunError.contextFull(capacity: capacity, needed: position + tokens.count)
        }
        let wanted = logitRows.clamped(to: 0..<tokens.count)
        growCache(to: position + tokens.count)
        let vocab = spec.vocabSize
        if logits.count != wanted.count * vocab { logits = [Float](repeating: 0, count: wanted.count * vocab) }
        var start = 0
        while start < tokens.count {
            let end = min(start + max(maxChunk, 1), tokens.count)
            let rows = wanted.clamped(to: start..<end)
            logits.withUnsafeMutableBufferPointer { out in
                let first = rows.isEmpty ? 0 : rows.lowerBound - wanted.lowerBound
                runChunk(Array(tokens[start..<end]), logitRows: (rows.lowerBound - start)..<(rows.upperBound - start),
                         into: out.baseAddress! + first * vocab)
            }
            start = end
        }
        return logits
    }

    /// Reads the logits of the latest `forward` without copying them (the returned array of
    /// `forward` shares this storage; holding on to it makes the next call copy).
    public func withLogits<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try logits.withUnsafeBufferPointer(body)
    }

    // MARK: - One chunk

    private func runChunk(_ tokens: [Int], logitRows: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let n = tokens.count, h = spec.hiddenSize, inter = spec.intermediateSize
        let qWidth = spec.queryWidth, kvWidth = spec.kvWidth, qkvWidth = qWidth + 2 * kvWidth
        for buffer in [x, xn] { buffer.reserve(n * h) }
        qkv.reserve(n * qkvWidth)
        attention.reserve(n * qWidth)
        gateUp.reserve(n * 2 * inter)
        activated.reserve(n * inter)
        let x = x.pointer, xn = xn.pointer, qkv = qkv.pointer, gateUp = gateUp.pointer, act = activated.pointer

        // Embeddings (× sqrt(hidden) for Gemma).
        for (row, token) in tokens.enumerated() {
            let dst = x + row * h
            model.embedding.copyRow(token, into: dst)
            if spec.embeddingScale != 1 { for i in 0..<h { dst[i] *= spec.embeddingScale } }
        }

        let addOne: Int32 = spec.normAddsOne ? 1 : 0
        // Row-parallel passes share the BLAS's threads, and only when the BLAS does the products.
        let rowsInParallel = n > WeightMatrix.gemvRowLimit
        func eachRows(work: Int, _ body: (Range<Int>) -> Void) {
            if rowsInParallel { TeamRows.run(count: n, workPerItem: work, body) } else { body(0..<n) }
        }
        for (index, layer) in model.layers.enumerated() {
            layer.attentionNorm.withUnsafeBufferPointer { w in
                eachRows(work: h) { rows in
                    mk_rmsnorm(x + rows.lowerBound * h, h, w.baseAddress, xn + rows.lowerBound * h, h,
                               rows.count, h, spec.rmsNormEps, addOne)
                }
            }
            layer.qkv.apply(xn, rows: n, into: qkv)
            if let bias = layer.qkvBias { addRowBias(qkv, rows: n, width: qkvWidth, bias) }
            let half = spec.headDim / 2, start = position
            eachRows(work: qkvWidth) { rows in
                for row in rows {
                    mk_rope(qkv + row * qkvWidth, spec.headCount + spec.kvHeadCount, spec.headDim,
                            ropeCos.pointer + (start + row) * half, ropeSin.pointer + (start + row) * half)
                }
                storeKeysAndValues(layer: index, rows: rows)
            }
            attend(layer: index, rows: n)
            layer.output.apply(attention.pointer, rows: n, into: x, accumulate: true)
            if let bias = layer.outputBias { addRowBias(x, rows: n, width: h, bias) }

            layer.mlpNorm.withUnsafeBufferPointer { w in
                eachRows(work: h) { rows in
                    mk_rmsnorm(x + rows.lowerBound * h, h, w.baseAddress, xn + rows.lowerBound * h, h,
                               rows.count, h, spec.rmsNormEps, addOne)
                }
            }
            layer.gateUp.apply(xn, rows: n, into: gateUp)
            if let bias = layer.gateUpBias { addRowBias(gateUp, rows: n, width: 2 * inter, bias) }
            let activation = spec.activation
            eachRows(work: 8 * inter) { rows in
                for row in rows {
                    let gate = gateUp + row * 2 * inter
                    switch activation {
                    case .silu: mk_silu_mul(gate, gate + inter, act + row * inter, inter)
                    case .geluTanh: mk_gelu_tanh_mul(gate, gate + inter, act + row * inter, inter)
                    case .gelu: mk_gelu_mul(gate, gate + inter, act + row * inter, inter)
                    }
                }
            }
            layer.down.apply(act, rows: n, into: x, accumulate: true)
            if let bias = layer.downBias { addRowBias(x, rows: n, width: h, bias) }
        }
        position += n

        // Final norm and LM head only for the rows whose logits are wanted.
        guard !logitRows.isEmpty else { return }
        model.finalNorm.withUnsafeBufferPointer { w in
            mk_rmsnorm(x + logitRows.lowerBound * h, h, w.baseAddress, xn, h, logitRows.count, h,
                       spec.rmsNormEps, addOne)
        }
        model.head.apply(xn, rows: logitRows.count, into: out)
    }

    private func addRowBias(_ y: UnsafeMutablePointer<Float>, rows: Int, width: Int, _ bias: [Float]) {
        bias.withUnsafeBufferPointer { b in
            for row in 0..<rows { mk_add(y + row * width, b.baseAddress, width) }
        }
    }

    /// Copies the rotated keys and the values of this chunk's rows `rows` into the layer's cache.
    private func storeKeysAndValues(layer: Int, rows: Range<Int>) {
        let hd = spec.headDim, qWidth = spec.queryWidth, kvWidth = spec.kvWidth
        let qkvWidth = qWidth + 2 * kvWidth
        let k = keys[layer].pointer, v = values[layer].pointer
        for row in rows {
            let src = qkv.pointer + row * qkvWidth
            for g in 0..<spec.kvHeadCount {
                let dst = (g * allocatedPositions + position + row) * hd
                (k + dst).update(from: src + qWidth + g * hd, count: hd)
                (v + dst).update(from: src + qWidth + kvWidth + g * hd, count: hd)
            }
        }
    }

    /// Causal grouped-query attention of this chunk's queries over the cache, into `attention`.
    private func attend(layer: Int, rows n: Int) {
        let hd = spec.headDim, heads = spec.headCount, group = spec.headCount / spec.kvHeadCount
        let qWidth = spec.queryWidth, qkvWidth = qWidth + 2 * spec.kvWidth
        let scale = 1 / Float(hd).squareRoot()
        let keys = keys[layer].pointer, values = values[layer].pointer
        let headStride = allocatedPositions * hd
        let total = position + n
        let window = spec.slidingWindow
        let q = qkv.pointer, out = attention.pointer

        if n == 1 || !(useGEMMAttention ?? (n > WeightMatrix.gemvRowLimit)) {
            // One query row at a time per head (mk_attend), spread over the cores by GCD in items of
            // (head, block of rows); GCD balances the uneven causal rows and tolerates a busy machine.
            let rowsPerItem = n == 1 ? 1 : 16
            let blocks = (n + rowsPerItem - 1) / rowsPerItem
            let items = heads * blocks
            scores.reserve(items * total)
            let scratch = scores.pointer, start = position
            let item = { (index: Int) in
                let head = index % heads, b = index / heads, g = head / group
                for row in (b * rowsPerItem)..<min(n, (b + 1) * rowsPerItem) {
                    let pos = start + row
                    let lo = window.map { max(0, pos - $0 + 1) } ?? 0
                    mk_attend(q + row * qkvWidth + head * hd, keys + g * headStride + lo * hd,
                              values + g * headStride + lo * hd, pos + 1 - lo, hd, scale,
                              scratch + index * total, out + row * qWidth + head * hd)
                }
            }
            if total * n * heads * hd >= 1 << 15 {
                DispatchQueue.concurrentPerform(iterations: items, execute: item)
            } else {
                for index in 0..<items { item(index) }
            }
            return
        }

        // Prefill: per KV group and block of query rows, scores = scale·Q·Kᵀ and out = P·V through
        // GEMM, over only the keys some row of the block can see (causal limit, sliding window);
        // masked entries are zeroed after a softmax over each row's visible keys. The query heads
        // sharing a KV head are stacked into one product (rows ordered row-major by (query row,
        // head)), so each GEMM is `group` times taller: fewer calls, large enough to use all cores.
        let block = max(attentionRowBlock, 1)
        let stacked = min(n, block) * group
        scores.reserve(stacked * total)
        attentionScratch.reserve(2 * stacked * hd)
        let s = scores.pointer, packedQ = attentionScratch.pointer, packedOut = packedQ + stacked * hd
        for g in 0..<spec.kvHeadCount {
            for r0 in stride(from: 0, to: n, by: block) {
                let r1 = min(n, r0 + block), m = (r1 - r0) * group
                for row in r0..<r1 {
                    (packedQ + (row - r0) * group * hd).update(from: q + row * qkvWidth + g * group * hd,
                                                               count: group * hd)
                }
                let keyEnd = position + r1
                let keyStart = window.map { max(0, position + r0 - $0 + 1) } ?? 0
                let width = keyEnd - keyStart
                GEMM.sgemm(transA: false, transB: true, m: m, n: width, k: hd, alpha: scale,
                           a: packedQ, lda: hd,
                           b: keys + g * headStride + keyStart * hd, ldb: hd, beta: 0, c: s, ldc: width)
                let start = position
                TeamRows.run(count: m, workPerItem: 4 * width) { stackedRows in
                    for stackedRow in stackedRows {
                        let pos = start + r0 + stackedRow / group
                        let lo = (window.map { max(0, pos - $0 + 1) } ?? 0) - keyStart
                        let hi = pos + 1 - keyStart
                        let r = s + stackedRow * width
                        mk_softmax(r + lo, hi - lo)
                        if lo > 0 { r.update(repeating: 0, count: lo) }
                        if hi < width { (r + hi).update(repeating: 0, count: width - hi) }
                    }
                }
                GEMM.sgemm(transA: false, transB: false, m: m, n: hd, k: width,
                           a: s, lda: width, b: values + g * headStride + keyStart * hd, ldb: hd,
                           beta: 0, c: packedOut, ldc: hd)
                for row in r0..<r1 {
                    (out + row * qWidth + g * group * hd).update(from: packedOut + (row - r0) * group * hd,
                                                                 count: group * hd)
                }
            }
        }
    }

    // MARK: - Growth

    /// Ensures the cache and rotary tables hold `needed` positions, doubling to limit regrowth.
    private func growCache(to needed: Int) {
        guard needed > allocatedPositions else { return }
        let newSize = min(capacity, max(needed, 2 * allocatedPositions, 64))
        let hd = spec.headDim, kvHeads = spec.kvHeadCount
        for layer in 0..<spec.layerCount {
            for cache in [keys[layer], values[layer]] {
                let old = UnsafeMutablePointer<Float>.allocate(capacity: kvHeads * max(allocatedPositions, 1) * hd)
                defer { old.deallocate() }
                old.update(from: cache.pointer, count: kvHeads * allocatedPositions * hd)
                cache.reserve(kvHeads * newSize * hd)
                for g in 0..<kvHeads {
                    (cache.pointer + g * newSize * hd).update(from: old + g * allocatedPositions * hd,
                                                              count: position * hd)
                }
            }
        }
        let half = hd / 2
        ropeCos.reserve(newSize * half)
        ropeSin.reserve(newSize * half)
        for pos in 0..<newSize {
            for i in 0..<half {
                // As transformers: angle = float(pos) * inv_freq in F32, then cos/sin of it.
                let angle = Float(pos) * inverseFrequencies[i]
                ropeCos.pointer[pos * half + i] = Float(Foundation.cos(Double(angle)))
                ropeSin.pointer[pos * half + i] = Float(Foundation.sin(Double(angle)))
            }
        }
        allocatedPositions = newSize
    }
}
