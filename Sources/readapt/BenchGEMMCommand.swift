import ArgumentParser
import Foundation
import ReAdapt

/// `readapt bench gemm`: GFLOP/s of the matrix products (and GB/s of weights for decode).
struct BenchGEMM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "Time matrix products: sgemm 1024³ and SmolLM2-135M's prefill/decode shapes.",
        discussion: """
            Without --m/--n/--k, runs the default suite, ending with one decode token's \
            products through 211 distinct SmolLM2-135M matrices (n = parameter count). With them, times y[m×n] = x[m×k]·Wᵀ \
            through WeightMatrix (W is n×k) in each precision. The peer script \
            scripts/bench/torch_gemm.py runs the same shapes in PyTorch.
            """
    )

    @Option(help: "Rows of x (tokens).") var m: Int?
    @Option(help: "Output features (rows of W).") var n: Int?
    @Option(help: "Input features.") var k: Int?
    @Option(help: "Timed rounds per case; the best is reported.") var `repeat`: Int = 5
    @Option(help: "Comma-separated weight precisions: f32, bf16, f16.") var precisions: String = "f32,bf16"
    @Flag(help: "Only time one decode token through all of SmolLM2-135M's matrices.") var decodeTokenOnly = false
    @Flag(help: "Print JSON instead of a table.") var json = false

    func validate() throws {
        let given = [m, n, k].compactMap { $0 }
        if !given.isEmpty && given.count != 3 {
            throw ValidationError("Give all of --m, --n and --k, or none of them.")
        }
        if given.contains(where: { $0 <= 0 }) { throw ValidationError("--m, --n and --k must be positive.") }
        if `repeat` <= 0 { throw ValidationError("--repeat must be positive.") }
        _ = try parsedPrecisions()
    }

    func parsedPrecisions() throws -> [WeightStorage] {
        try precisions.split(separator: ",").map { text in
            guard let storage = WeightStorage(rawValue: text.trimmingCharacters(in: .whitespaces).lowercased()) else {
                throw ValidationError("Unknown precision '\(text)'; use f32, bf16 or f16.")
            }
            return storage
        }
    }

    func run() throws {
        let storages = try parsedPrecisions()
        let cases: [GEMMBenchmark.Case]
        if decodeTokenOnly {
            cases = []
        } else if let m, let n, let k {
            cases = [GEMMBenchmark.Case(label: "x·Wᵀ", m: m, n: n, k: k, storage: nil, transposeB: true)]
                + storages.map { GEMMBenchmark.Case(label: "x·Wᵀ", m: m, n: n, k: k, storage: $0) }
        } else {
            cases = GEMMBenchmark.defaultCases(precisions: storages)
        }
        var results: [GEMMBenchmark.Result] = []
        if !json {
            print("case                     path                  m      n      k   best ms  GFLOP/s  weight GB/s")
        }
        for c in cases {
            let r = GEMMBenchmark.run(c, repeats: `repeat`)
            results.append(r)
            if !json { printRow(r) }
        }
        if m == nil {
            for storage in storages {
                let r = GEMMBenchmark.runModelDecode(storage: storage, repeats: `repeat`)
                results.append(r)
                if !json { printRow(r) }
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        }
    }

    private func printRow(_ r: GEMMBenchmark.Result) {
        print(padded(r.label, 24) + " " + padded(r.path, 19)
              + String(format: " %5d %6d %6d %9.3f %8.1f %12.1f", r.m, r.n, r.k,
                       r.bestSeconds * 1e3, r.gflops, r.weightGBps))
    }

    private func padded(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
