import CKernels

/// A linear layer's weight in Hugging Face layout (out × in), held in the precision chosen for
/// inference (`WeightStorage`). Models call `apply` and never care how the weight is stored.
public final class WeightMatrix: @unchecked Sendable {
    /// Output features (rows of W).
    public let outFeatures: Int
    /// Input features (columns of W).
    public let inFeatures: Int
    /// How the values are kept in memory.
    public let storage: WeightStorage
    // Exactly one of these is non-empty (both empty only for a matrix with no elements).
    private let f32Values: [Float]
    private let halfBits: [UInt16]

    /// Up to this many input rows use the matrix-vector kernels (weights read once, no repacking);
    /// more rows go to the BLAS (measured crossover, see BENCHMARKS.md).
    public static let gemvRowLimit = 8
    /// Prefill widens 16-bit weights to F32 in blocks of about this many elements (4 MB of F32:
    /// SmolLM2's layer weights in one block, its LM head in 28; smaller blocks lose time to the
    /// BLAS re-packing x for every block, see BENCHMARKS.md).
    static let widenBlockElements = 1 << 20

    /// Takes a 2-D tensor shaped [out, in], stored in `WeightStorage.inferenceDefault`.
    public convenience init(_ tensor: Tensor) {
        self.init(tensor, storage: WeightStorage.inferenceDefault)
    }

    /// Takes a 2-D tensor shaped [out, in], stored in the given precision (rounded to nearest even).
    public init(_ tensor: Tensor, storage: WeightStorage) {
        precondition(tensor.rank == 2, "WeightMatrix needs a 2-D tensor, got shape \(tensor.shape)")
        outFeatures = tensor.shape[0]
        inFeatures = tensor.shape[1]
        self.storage = storage
        if let format = storage.halfFormat {
            f32Values = []
            halfBits = FloatConversion.narrow(tensor.scalars, format: format)
        } else {
            f32Values = tensor.scalars
            halfBits = []
        }
    }

    /// Builds the matrix straight from a checkpoint's little-endian bytes (F32, F16 or BF16),
    /// without a round trip through a Float32 tensor when the dtype matches the storage.
    /// `name` only labels errors.
    public init(outFeatures: Int, inFeatures: Int, dtype: DType, bytes: UnsafeRawBufferPointer,
                storage: WeightStorage = WeightStorage.inferenceDefault, name: String = "weight") throws {
        guard outFeatures >= 0, inFeatures >= 0 else {
            throw WeightMatrixError.badShape(name: name, outFeatures: outFeatures, inFeatures: inFeatures)
        }
        let count = outFeatures * inFeatures
        guard dtype == .f32 || dtype == .f16 || dtype == .bf16 else {
            throw WeightMatrixError.unsupportedDType(name: name, dtype: dtype)
        }
        guard bytes.count == count * dtype.size else {
            throw WeightMatrixError.byteCountMismatch(name: name, expected: count * dtype.size, actual: bytes.count)
        }
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.storage = storage
        // Copy the raw bytes into an array of the source element type (handles any alignment).
        func copied<T>(_ type: T.Type, zero: T) -> [T] {
            var out = [T](repeating: zero, count: count)
            out.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
            return out
        }
        switch (dtype, storage) {
        case (.f32, .f32):
            f32Values = copied(Float.self, zero: 0); halfBits = []
        case (.f32, _):
            f32Values = []
            halfBits = FloatConversion.narrow(copied(Float.self, zero: 0), format: storage.halfFormat!)
        case (_, .f32):
            f32Values = FloatConversion.widen(copied(UInt16.self, zero: 0), format: dtype == .f16 ? .f16 : .bf16)
            halfBits = []
        default:
            let bits = copied(UInt16.self, zero: 0)
            f32Values = []
            if dtype.rawValue == storage.halfFormat!.dtype.rawValue {
                halfBits = bits
            } else {  // F16 <-> BF16: widen (exact) then round once.
                let wide = FloatConversion.widen(bits, format: dtype == .f16 ? .f16 : .bf16)
                halfBits = FloatConversion.narrow(wide, format: storage.halfFormat!)
            }
        }
    }

    /// Bytes the weight values occupy in memory.
    public var byteCount: Int { outFeatures * inFeatures * storage.bytesPerElement }

    /// y[n × out] = x[n × in] · Wᵀ, or y += x · Wᵀ when `accumulate` is true.
    public func apply(_ x: UnsafePointer<Float>, rows n: Int,
                      into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        if n <= 0 || outFeatures == 0 { return }
        if inFeatures == 0 {
            if !accumulate { y.update(repeating: 0, count: n * outFeatures) }
            return
        }
        if n <= WeightMatrix.gemvRowLimit {
            applyRowByRow(x, rows: n, into: y, accumulate: accumulate)
        } else if storage == .f32 {
            f32Values.withUnsafeBufferPointer { w in
                GEMM.sgemm(transA: false, transB: true, m: n, n: outFeatures, k: inFeatures,
                           a: x, lda: inFeatures, b: w.baseAddress!, ldb: inFeatures,
                           beta: accumulate ? 1 : 0, c: y, ldc: outFeatures)
            }
        } else {
            applyWidenedBlocks(x, rows: n, into: y, accumulate: accumulate)
        }
    }

    /// Few rows: the C matrix-vector kernels over output-row ranges, one range per core.
    private func applyRowByRow(_ x: UnsafePointer<Float>, rows n: Int,
                               into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let level = ck_simd_level()
        let (k, out) = (inFeatures, outFeatures)
        func run(_ type: ck_weight_type, _ w: UnsafeRawPointer) {
            ParallelRows.run(count: out, workPerItem: k * n) { range in
                ck_gemv(level, type, w, k, range.lowerBound, range.upperBound,
                        x, k, n, y, out, accumulate ? 1 : 0)
            }
        }
        switch storage {
        case .f32: f32Values.withUnsafeBufferPointer { run(CK_WEIGHT_F32, $0.baseAddress!) }
        case .bf16: halfBits.withUnsafeBufferPointer { run(CK_WEIGHT_BF16, $0.baseAddress!) }
        case .f16: halfBits.withUnsafeBufferPointer { run(CK_WEIGHT_F16, $0.baseAddress!) }
        }
    }

    /// Many rows with 16-bit weights: widen a block of output rows to F32, then let the BLAS
    /// compute that block's columns of y. Widening is ~1% of the product's time (BENCHMARKS.md).
    private func applyWidenedBlocks(_ x: UnsafePointer<Float>, rows n: Int,
                                    into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let k = inFeatures, format = storage.halfFormat!
        let blockRows = max(16, WeightMatrix.widenBlockElements / k)
        let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: min(outFeatures, blockRows) * k)
        defer { scratch.deallocate() }
        halfBits.withUnsafeBufferPointer { bits in
            var start = 0
            while start < outFeatures {
                let rows = min(blockRows, outFeatures - start)
                // Widen on the BLAS's own threads (not GCD's: the pools would fight over the cores).
                TeamRows.run(count: rows, workPerItem: k) { part in
                    let source = UnsafeBufferPointer(
                        rebasing: bits[((start + part.lowerBound) * k)..<((start + part.upperBound) * k)])
                    let target = UnsafeMutableBufferPointer(
                        rebasing: scratch[(part.lowerBound * k)..<(part.upperBound * k)])
                    FloatConversion.widen(source, format: format, into: target)
                }
                GEMM.sgemm(transA: false, transB: true, m: n, n: rows, k: k,
                           a: x, lda: k, b: scratch.baseAddress!, ldb: k,
                           beta: accumulate ? 1 : 0, c: y + start, ldc: outFeatures)
                start += rows
            }
        }
    }

    /// Row `index` of W (one output feature's weights, or one token's embedding) as Float32,
    /// so an embedding table and a tied LM head can share one matrix.
    public func copyRow(_ index: Int, into destination: UnsafeMutablePointer<Float>) {
        precondition(index >= 0 && index < outFeatures, "row \(index) is outside 0..<\(outFeatures)")
        let start = index * inFeatures
        if let format = storage.halfFormat {
            halfBits.withUnsafeBufferPointer { bits in
                FloatConversion.widen(UnsafeRawPointer(bits.baseAddress! + start), format: format,
                                      into: destination, count: inFeatures)
            }
        } else {
            f32Values.withUnsafeBufferPointer { destination.update(from: $0.baseAddress! + start, count: inFeatures) }
        }
    }

    /// The weight as a Float32 tensor [out, in] (for merging, tests and export). For 16-bit
    /// storage these are the rounded values the products actually use.
    public func toTensor() -> Tensor {
        let values = storage.halfFormat.map { FloatConversion.widen(halfBits, format: $0) } ?? f32Values
        return Tensor(shape: [outFeatures, inFeatures], scalars: values)
    }
}

/// Problems building a `WeightMatrix` from checkpoint bytes.
public enum WeightMatrixError: Error, CustomStringConvertible, Equatable {
    case unsupportedDType(name: String, dtype: DType)
    case byteCountMismatch(name: String, expected: Int, actual: Int)
    case badShape(name: String, outFeatures: Int, inFeatures: Int)

    public var description: String {
        switch self {
        case let .unsupportedDType(name, dtype):
            return "Tensor '\(name)' has dtype \(dtype.rawValue), but weight matrices can only be built from F32, F16 or BF16 data."
        case let .byteCountMismatch(name, expected, actual):
            return "Tensor '\(name)' has \(actual) bytes of data where its shape and dtype need \(expected)."
        case let .badShape(name, outFeatures, inFeatures):
            return "Tensor '\(name)' has an invalid weight shape [\(outFeatures), \(inFeatures)]."
        }
    }
}
