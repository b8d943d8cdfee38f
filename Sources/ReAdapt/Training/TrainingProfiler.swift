import Foundation

/// A per-op wall-clock profile of training steps (`readapt bench train --profile`).
///
/// Ops wrap their work in `TrainingProfiler.measure(.category, flops:) { … }`. When the profiler is
/// off (the default) that is one load of a static flag and a direct call, so the wrappers stay in
/// production code. When on, the time of the OUTERMOST open section is charged to its category:
/// a section opened inside another (e.g. the linear GEMMs a LoRA layer runs inside a `.loraExtra`
/// section) is counted as part of the outer one, so the categories never double-count and their
/// sum is the profiled time. Ops run on the calling thread (their parallel parts fan out and join
/// inside the op), so the profiler needs no locking; profile from one thread at a time.
public enum TrainingProfiler {
    /// The op groups of a training step.
    public enum Category: Int, CaseIterable, Sendable, Comparable {
        case embedding, norm, rope, attentionForward, attentionBackward
        case linearForward, linearInputGradient, linearWeightGradient, bias
        case activation, residual, crossEntropy, loraExtra, clip, optimizer, zeroGradients, other

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
            case .loraExtra: return "LoRA/DoRA extra"
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
    nonisolated(unsafe) private static var depth = 0

    /// Runs `body`, charging its wall time (and `flops`) to `category` when enabled and not nested.
    @inline(__always)
    public static func measure<T>(_ category: Category, flops: Double = 0, _ body: () throws -> T) rethrows -> T {
        guard isEnabled else { return try body() }
        return try timed(category, flops: flops, body)
    }

    private static func timed<T>(_ category: Category, flops count: Double, _ body: () throws -> T) rethrows -> T {
        depth += 1
        let start = now()
        defer {
            depth -= 1
            if depth == 0 {
                seconds[category.rawValue] += now() - start
                flops[category.rawValue] += count
                calls[category.rawValue] += 1
            }
        }
        return try body()
    }

    /// An open section from `begin`; nil when the profiler is off.
    public struct Section {
        let category: Category
        let start: Double
        let flops: Double
    }

    /// Opens a section closed by `end` — for wrapping the rest of a function without re-indenting
    /// it: `let section = TrainingProfiler.begin(.loraExtra); defer { TrainingProfiler.end(section) }`.
    @inline(__always)
    public static func begin(_ category: Category, flops: Double = 0) -> Section? {
        guard isEnabled else { return nil }
        depth += 1
        return Section(category: category, start: now(), flops: flops)
    }

    @inline(__always)
    public static func end(_ section: Section?) {
        guard let section else { return }
        depth -= 1
        if depth == 0 {
            seconds[section.category.rawValue] += now() - section.start
            flops[section.category.rawValue] += section.flops
            calls[section.category.rawValue] += 1
        }
    }

    /// Clears all totals.
    public static func reset() {
        for i in seconds.indices { seconds[i] = 0; flops[i] = 0; calls[i] = 0 }
        depth = 0
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
