/// A linear layer's weight in Hugging Face layout (out × in), held in the precision chosen for
/// inference. Models call `apply` and never care how the weight is stored.
public final class WeightMatrix: @unchecked Sendable {
    /// Output features (rows of W).
    public let outFeatures: Int
    /// Input features (columns of W).
    public let inFeatures: Int
    private var values: [Float]

    /// Takes a 2-D tensor shaped [out, in].
    public init(_ tensor: Tensor) {
        precondition(tensor.rank == 2, "WeightMatrix needs a 2-D tensor, got shape \(tensor.shape)")
        outFeatures = tensor.shape[0]
        inFeatures = tensor.shape[1]
        values = tensor.scalars
    }

    /// y[n × out] = x[n × in] · Wᵀ, or y += x · Wᵀ when `accumulate` is true.
    public func apply(_ x: UnsafePointer<Float>, rows n: Int,
                      into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        values.withUnsafeBufferPointer { w in
            GEMM.sgemm(transA: false, transB: true, m: n, n: outFeatures, k: inFeatures,
                       a: x, lda: inFeatures, b: w.baseAddress!, ldb: inFeatures,
                       beta: accumulate ? 1 : 0, c: y, ldc: outFeatures)
        }
    }

    /// The weight as a Float32 tensor [out, in] (for merging, tests and export).
    public func toTensor() -> Tensor { Tensor(shape: [outFeatures, inFeatures], scalars: values) }
}
