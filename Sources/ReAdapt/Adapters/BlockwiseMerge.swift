import Foundation

/// The fast path of `ModelMerger` for tensors changed only by dense delta checkpoints (the
/// RE-Adapt instruction adapter): no whole-tensor F32 copies. The tensor is cut into blocks that
/// the cores work on in parallel; per block the stored base and delta bytes are widened into small
/// buffers, summed and narrowed straight into the output bytes. The arithmetic per element is
/// exactly `AdapterStack.merged`'s (Σ f_i·d_i in adapter order, then + base), so both paths, and
/// in-memory `--adapter`, give bit-identical weights.
enum BlockwiseMerge {
    static let blockSize = 1 << 18
    static let floats: Set<DType> = [.f32, .f16, .bf16]

    /// The dense checkpoints holding `name` when every adapter touching it is a dense delta whose
    /// stored tensor has the base shape and a float dtype; nil when the tensor needs the general path.
    static func sources(for name: String, stack: AdapterStack, baseInfo: TensorInfo) -> [(SafetensorsCheckpoint, Float)]? {
        guard floats.contains(baseInfo.dtype), stack.grownRows[name] == nil else { return nil }
        var sources: [(SafetensorsCheckpoint, Float)] = []
        for entry in stack.entries where entry.adapter.targetTensorNames.contains(name) {
            guard let delta = entry.adapter as? DeltaCheckpointAdapter, delta.lowRank == nil, let dense = delta.dense,
                  let info = dense.info(name), info.shape == baseInfo.shape, floats.contains(info.dtype) else { return nil }
            sources.append((dense, Float(stack.factor(entry, for: name))))
        }
        return sources.isEmpty ? nil : sources
    }

    /// Widens `count` values of `dtype` starting at element `start` of `raw` into `out`.
    static func widen(_ raw: UnsafeRawBufferPointer, dtype: DType, start: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        let source = raw.baseAddress! + start * dtype.size
        switch dtype {
        case .f32: memcpy(out, source, count * 4)
        case .f16: FloatConversion.widen(source, format: .f16, into: out, count: count)
        default: FloatConversion.widen(source, format: .bf16, into: out, count: count)
        }
    }

    /// Writes base + Σ f·delta for `name` into `output` (the tensor's bytes in `outputDType`).
    /// Throws `MergeError.nonFinite` naming the adapters if any value is NaN or infinite.
    static func merge(_ name: String, base: SafetensorsCheckpoint, sources: [(SafetensorsCheckpoint, Float)],
                      outputDType: DType, into output: UnsafeMutableRawBufferPointer, adapterNames: [String]) throws {
        let count = base.info(name)!.elementCount
        let blocks = (count + blockSize - 1) / blockSize
        var finite = [Bool](repeating: true, count: blocks)
        // Every raw buffer stays valid for the whole parallel loop: nest withRawBytes per source.
        func withAllRaw(_ index: Int, _ raws: [(UnsafeRawBufferPointer, DType)], _ body: ([(UnsafeRawBufferPointer, DType)]) throws -> Void) throws {
            if index == sources.count { return try body(raws) }
            try sources[index].0.withRawBytes(name) { raw, info in try withAllRaw(index + 1, raws + [(raw, info.dtype)], body) }
        }
        try base.withRawBytes(name) { baseRaw, baseInfo in
            try withAllRaw(0, []) { deltas in
                finite.withUnsafeMutableBufferPointer { flags in
                    DispatchQueue.concurrentPerform(iterations: blocks) { block in
                        let start = block * blockSize, n = min(blockSize, count - start)
                        let sum = UnsafeMutablePointer<Float>.allocate(capacity: n)
                        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: n)
                        defer { sum.deallocate(); scratch.deallocate() }
                        for (i, (raw, dtype)) in deltas.enumerated() {
                            let f = sources[i].1
                            widen(raw, dtype: dtype, start: start, count: n, into: i == 0 ? sum : scratch)
                            if i == 0 {
                                for j in 0..<n { sum[j] *= f }
                            } else {
                                for j in 0..<n { sum[j] += f * scratch[j] }
                            }
                        }
                        widen(baseRaw, dtype: baseInfo.dtype, start: start, count: n, into: scratch)
                        var ok = true
                        for j in 0..<n {
                            sum[j] += scratch[j]
                            if !sum[j].isFinite { ok = false }
                        }
                        flags[block] = ok
                        let target = output.baseAddress! + start * outputDType.size
                        switch outputDType {
                        case .f32: memcpy(target, sum, n * 4)
                        case .f16: FloatConversion.narrow(sum, format: .f16, into: target, count: n)
                        default: FloatConversion.narrow(sum, format: .bf16, into: target, count: n)
                        }
                    }
                }
            }
        }
        base.releasePages(name)
        for (source, _) in sources { source.releasePages(name) }
        guard !finite.contains(false) else { throw MergeError.nonFinite(tensor: name, adapters: adapterNames) }
    }
}
