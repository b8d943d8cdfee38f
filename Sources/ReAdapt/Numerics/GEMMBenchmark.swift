import Foundation

/// Times matrix products the way models use them, for `readapt bench gemm` and BENCHMARKS.md.
public enum GEMMBenchmark {
    /// One product to time: y[m × n] = x[m × k] · Wᵀ with W [n × k].
    public struct Case: Sendable, Equatable {
        public var label: String
        public var m: Int, n: Int, k: Int
        /// nil: raw `GEMM.sgemm` on F32; otherwise `WeightMatrix.apply` in that precision.
        public var storage: WeightStorage?
        /// For raw sgemm: B given as W [n × k] (x·Wᵀ, like a linear layer) instead of [k × n].
        public var transposeB: Bool

        public init(label: String, m: Int, n: Int, k: Int, storage: WeightStorage?, transposeB: Bool = false) {
            (self.label, self.m, self.n, self.k, self.storage) = (label, m, n, k, storage)
            self.transposeB = transposeB
        }

        public var path: String {
            storage.map { "WeightMatrix.\($0.rawValue)" } ?? (transposeB ? "GEMM.sgemm NT" : "GEMM.sgemm")
        }
    }

    public struct Result: Sendable, Codable {
        public var label: String
        public var path: String
        public var m: Int, n: Int, k: Int
        /// Best and median seconds per product over the repeats.
        public var bestSeconds: Double
        public var medianSeconds: Double
        public var gflops: Double
        /// Weight bytes streamed per second (meaningful for few rows, where weights dominate).
        public var weightGBps: Double
    }

    /// SmolLM2-135M's products: x·Wᵀ for q/o (576×576), k/v (192×576), gate/up (1536×576),
    /// down (576×1536) and the tied LM head (49152×576).
    public static let modelWeights: [(name: String, out: Int, in: Int)] = [
        ("q_proj/o_proj", 576, 576), ("k_proj/v_proj", 192, 576), ("gate/up_proj", 1536, 576),
        ("down_proj", 576, 1536), ("lm_head", 49152, 576),
    ]

    /// The default suite: sgemm 1024³, then each model weight for a 512-token prefill and for
    /// one-token decode, in each requested precision.
    public static func defaultCases(precisions: [WeightStorage]) -> [Case] {
        var cases = [Case(label: "sgemm 1024^3", m: 1024, n: 1024, k: 1024, storage: nil)]
        for rows in [512, 1] {
            for weight in modelWeights {
                for storage in precisions {
                    cases.append(Case(label: "\(rows == 1 ? "decode" : "prefill") \(weight.name)",
                                      m: rows, n: weight.out, k: weight.in, storage: storage))
                }
            }
        }
        return cases
    }

    /// Runs one case: warms up, then `repeats` timed rounds, each long enough (≥ ~30 ms) to time.
    public static func run(_ c: Case, repeats: Int) -> Result {
        var rng = SplitMix64(seed: 42)
        let x = (0..<(c.m * c.k)).map { _ in Float.random(in: -1...1, using: &rng) }
        let w = (0..<(c.n * c.k)).map { _ in Float.random(in: -0.1...0.1, using: &rng) }
        var y = [Float](repeating: 0, count: c.m * c.n)
        let product: () -> Void
        if let storage = c.storage {
            let matrix = WeightMatrix(Tensor(shape: [c.n, c.k], scalars: w), storage: storage)
            product = { matrix.apply(x, rows: c.m, into: &y) }
        } else {
            product = {
                GEMM.sgemm(transB: c.transposeB, m: c.m, n: c.n, k: c.k, a: x, lda: c.k,
                           b: w, ldb: c.transposeB ? c.k : c.n, c: &y, ldc: c.n)
            }
        }
        product()
        let once = time(product)
        let iterations = max(1, Int(0.03 / max(once, 1e-7)))
        var samples: [Double] = []
        for _ in 0..<max(1, repeats) {
            samples.append(time { for _ in 0..<iterations { product() } } / Double(iterations))
        }
        samples.sort()
        let best = samples[0]
        let weightBytes = Double(c.n * c.k * (c.storage?.bytesPerElement ?? 4))
        return Result(label: c.label, path: c.path, m: c.m, n: c.n, k: c.k,
                      bestSeconds: best, medianSeconds: samples[samples.count / 2],
                      gflops: 2 * Double(c.m) * Double(c.n) * Double(c.k) / best / 1e9,
                      weightGBps: weightBytes / best / 1e9)
    }

    /// One decode token's worth of products for SmolLM2-135M: 30 layers of q, k, v, o, gate,
    /// up, down plus the LM head, every matrix distinct (270–540 MB, far beyond the caches), so
    /// weights come from memory as in real decoding. Reports the time per token.
    public static func runModelDecode(storage: WeightStorage, repeats: Int, layers: Int = 30) -> Result {
        var rng = SplitMix64(seed: 42)
        let shapes = [(576, 576), (192, 576), (192, 576), (576, 576), (1536, 576), (1536, 576), (576, 1536)]
        var matrices: [WeightMatrix] = []
        for _ in 0..<layers {
            for (out, inputs) in shapes {
                let values = (0..<(out * inputs)).map { _ in Float.random(in: -0.1...0.1, using: &rng) }
                matrices.append(WeightMatrix(Tensor(shape: [out, inputs], scalars: values), storage: storage))
            }
        }
        let head = (0..<(49152 * 576)).map { _ in Float.random(in: -0.1...0.1, using: &rng) }
        matrices.append(WeightMatrix(Tensor(shape: [49152, 576], scalars: head), storage: storage))
        let x = (0..<1536).map { _ in Float.random(in: -1...1, using: &rng) }
        var y = [Float](repeating: 0, count: 49152)
        let token = { for matrix in matrices { matrix.apply(x, rows: 1, into: &y) } }
        token()
        var samples: [Double] = []
        for _ in 0..<max(1, repeats) { samples.append(time(token)) }
        samples.sort()
        let parameters = Double(matrices.reduce(0) { $0 + $1.outFeatures * $1.inFeatures })
        let bytes = Double(matrices.reduce(0) { $0 + $1.byteCount })
        return Result(label: "decode token (\(matrices.count) mats)", path: "WeightMatrix.\(storage.rawValue)",
                      m: 1, n: Int(parameters), k: 1, bestSeconds: samples[0],
                      medianSeconds: samples[samples.count / 2],
                      gflops: 2 * parameters / samples[0] / 1e9, weightGBps: bytes / samples[0] / 1e9)
    }

    private static func time(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
