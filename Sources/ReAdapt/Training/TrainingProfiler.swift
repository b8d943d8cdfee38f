import Foundation

/// A per-op wall-clock profile of training steps (`readapt bench train --profile`).
///
/// Ops wrap their work in `TrainingProfiler.measure(.category, flops:) { … }`. When the profiler is
/// off (the default) that is one load of a static flag and a direct call, so the wrappers stay in
/// production code. When on, each section is charged its EXCLUSIVE time: a section opened inside
/// another (e.g. the LoRA GEMMs inside an adapted layer's `.loraExtra` section) is charged to its
/// own category and subtracted from the enclosing one, so the categories never double-count and
/// their sum is the profiled time. Ops run on the calling thread (their parallel parts fan out and join
/// inside the op), so the profiler needs no locking; profile from one thread at a time.
public enum TrainingProfiler {
    /// The op groups of a training step.
    public enum Category: Int, CaseIterable, Sendable, Comparable {
        case embedding, norm, rope, attentionForward, attentionBackward
        case linearForward, linearInputGradient, linearWeightGradient, bias
        case activation, residual, crossEntropy, loraGEMM, loraDropout, loraExtra, clip, optimizer, zeroGradients
        case other

        public var name: String {
            switch self {
            case .embedding: return "embedding (gather, scatter-add)"
            case .norm: return "RMSNorm fwd+bwd"
            case .rope: return "RoPE fwd+bwd"
            case .attentionForward: return "attention fwd (QK^T, softmax, PV)"
            case .attentionBackward: return "attention bwd"
            case .linearForward: return "linear fwd GEMM (x·W^T, incl. head)"
            case .linearInputGradient: return "linear dx GEMM (dy·W)"
            case .linearWeightGradient: return "linear dW GEMM (dy^T·x)"
            case .bias: return "bias add / bias grad"
            case .activation: return "gated activation fwd+bwd"
            case .residual: return "residual adds"
            case .crossEntropy: return "cross-entropy fwd+bwd"
            case .loraGEMM: return "LoRA GEMMs (x·A^T, u·B^T and grads)"
            case .loraDropout: return "LoRA input dropout (fwd, bwd)"
            case .loraExtra: return "LoRA/DoRA other (norms, combine)"
            case .clip: return "gradient clipping"
            case .optimizer: return "AdamW step"
            case .zeroGradients: return "zero gradients"
            case .other: return "other"
            }
        }

        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    /// One category's totals since the last `reset()`.
    public struct Entry: Sendable, Equatable {
        public var category: Category
        public var seconds: Double
        /// Floating-point operations counted by the ops (0 where not meaningful).
        public var flops: Double
        public var calls: Int
        public var gflopsPerSecond: Double? { flops > 0 && seconds > 0 ? flops / seconds / 1e9 : nil }
    }

    /// Turn on to collect; off, `measure` only runs its body.
    nonisolated(unsafe) public static var isEnabled = false

    nonisolated(unsafe) private static var seconds = [Double](repeating: 0, count: Category.allCases.count)
    nonisolated(unsafe) private static var flops = [Double](repeating: 0, count: Category.allCases.count)
    nonisolated(unsafe) private static var calls = [Int](repeating: 0, count: Category.allCases.count)
    /// Open sections: each one's start time and the time of the sections nested in it so far.
    nonisolated(unsafe) private static var open: [(start: Double, nested: Double)] = []

    /// Runs `body`, charging its exclusive wall time (and `flops`) to `category` when enabled.
    @inline(__always)
    public static func measure<T>(_ category: Category, flops: Double = 0, _ body: () throws -> T) rethrows -> T {
        guard isEnabled else { return try body() }
        let section = begin(category, flops: flops)
        defer { end(section) }
        return try body()
    }

    /// An open section from `begin`; nil when the profiler is off.
    public struct Section {
        let category: Category
        let flops: Double
    }

    /// Opens a section closed by `end` — for wrapping part of a function without re-indenting it:
    /// `let section = TrainingProfiler.begin(.loraExtra); defer { TrainingProfiler.end(section) }`.
    /// Sections must close in the reverse order they opened.
    @inline(__always)
    public static func begin(_ category: Category, flops: Double = 0) -> Section? {
        guard isEnabled else { return nil }
        open.append((now(), 0))
        return Section(category: category, flops: flops)
    }

    @inline(__always)
    public static func end(_ section: Section?) {
        guard let section, let top = open.popLast() else { return }
        let elapsed = now() - top.start
        seconds[section.category.rawValue] += elapsed - top.nested
        flops[section.category.rawValue] += section.flops
        calls[section.category.rawValue] += 1
        if !open.isEmpty { open[open.count - 1].nested += elapsed }
    }

    /// Clears all totals.
    public static func reset() {
        for i in seconds.indices { seconds[i] = 0; flops[i] = 0; calls[i] = 0 }
        open.removeAll()
    }

    /// The categories with any calls, in `Category` order.
    public static var entries: [Entry] {
        Category.allCases.compactMap { c in
            calls[c.rawValue] == 0 ? nil
                : Entry(category: c, seconds: seconds[c.rawValue], flops: flops[c.rawValue], calls: calls[c.rawValue])
        }
    }

    private static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}

extension LoRAShape {
    /// FLOPs of the adapter's two forward products x_d·Aᵀ and u·Bᵀ; its backward (du, dB, dA,
    /// dx_d) is twice this.
    var loraForwardFlops: Double { 2 * Double(rows * rank * (inFeatures + outFeatures)) }
}
