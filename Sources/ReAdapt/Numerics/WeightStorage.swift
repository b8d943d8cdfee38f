import Foundation

/// The precision a `WeightMatrix` keeps its values in memory.
///
/// Decode (one token) streams every weight once, so it runs at memory speed: BF16/F16 halve the
/// bytes and nearly double decode speed, and halve memory. Prefill widens blocks of 16-bit
/// weights to F32 just before the BLAS product, which costs a few percent (see BENCHMARKS.md).
/// BF16 is exact for BF16 checkpoints and cannot overflow; F16 keeps 3 more mantissa bits but
/// overflows beyond ±65504. F32 reproduces PyTorch's F32 results; tests use it.
public enum WeightStorage: String, Sendable, CaseIterable {
    case f32, bf16, f16

    public var bytesPerElement: Int { self == .f32 ? 4 : 2 }

    /// The half format backing this storage, nil for F32.
    public var halfFormat: HalfFormat? {
        switch self {
        case .f32: return nil
        case .bf16: return .bf16
        case .f16: return .f16
        }
    }

    /// The precision `WeightMatrix.init(_:)` uses: BF16 unless the environment variable
    /// `READAPT_WEIGHT_PRECISION` (f32, bf16 or f16) says otherwise at start-up. Set it to `.f32`
    /// before loading a model to get PyTorch-F32-exact results.
    public static var inferenceDefault: WeightStorage {
        get { defaultLock.lock(); defer { defaultLock.unlock() }; return storedDefault }
        set { defaultLock.lock(); defer { defaultLock.unlock() }; storedDefault = newValue }
    }

    private static let defaultLock = NSLock()
    nonisolated(unsafe) private static var storedDefault: WeightStorage = {
        if let text = ProcessInfo.processInfo.environment["READAPT_WEIGHT_PRECISION"],
           let choice = WeightStorage(rawValue: text.lowercased()) {
            return choice
        }
        return .bf16
    }()
}
