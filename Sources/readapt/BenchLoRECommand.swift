import ArgumentParser
import Foundation
import ReAdapt

/// `readapt bench lore`: LoRE rank selection and factorization over every delta of a safetensors
/// file, randomized (certified) against exact, and against torch's ranks (docs/lore.md).
struct BenchLoRE: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lore",
        abstract: "Time LoRE (rank at TAU + factors) over every 2-D delta in a safetensors file.",
        discussion: """
            Make the SmolLM2-135M-shaped deltas with scripts/bench/lore_make_deltas.py and the torch \
            baseline ranks with scripts/bench/lore_torch.py --ranks FILE; pass that file as --torch-ranks \
            to count rank mismatches. Deltas are loaded before timing; each method's best of --repeat \
            rounds is reported.
            """
    )

    @Option(help: "safetensors file of deltas (every 2-D tensor is one matrix).") var deltas: String
    @Option(help: "Explained-variance threshold.") var tau: Double = 0.5
    @Option(help: "Timed rounds per method; the best is reported.") var `repeat`: Int = 3
    @Option(help: "Comma-separated methods: randomized, exact.") var methods: String = "randomized,exact"
    @Option(help: "JSON {name: rank} from scripts/bench/lore_torch.py --ranks.") var torchRanks: String?
    @Option(help: "Only the first N matrices (sorted by name).") var limit: Int?
    @Option(help: "Matrices factorized at once, each on one thread (default: one per core).") var workers: Int?
    @Flag(help: "Print one JSON object instead of text.") var json = false
    @Flag(help: "Print every matrix's rank, solver, sketch width and time (first round) on stderr.") var verbose = false

    func validate() throws {
        guard tau > 0, tau <= 1 else { throw ValidationError("--tau must be in (0, 1], not \(tau).") }
        guard `repeat` > 0 else { throw ValidationError("--repeat must be positive.") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1.") }
        _ = try parsedMethods()
    }

    func parsedMethods() throws -> [SVDMethod] {
        try methods.split(separator: ",").map { text in
            guard let method = SVDMethod(rawValue: text.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("Unknown method '\(text)'; use randomized or exact.")
            }
            return method
        }
    }

    struct MethodResult: Encodable {
        var method: String
        var seconds: [Double]
        var bestSeconds: Double
        var solvers: [String: Int]
        var rankMin: Int, rankMax: Int, rankSum: Int
        var parameterShare: Double
        var mismatchesWithExact: Int?
        var mismatchesWithTorch: Int?
    }

    struct Output: Encodable {
        var file: String
        var matrices: Int
        var tau: Double
        var results: [MethodResult]
    }

    func run() throws {
        let file = try SafetensorsFile(url: URL(fileURLWithPath: deltas))
        var names = file.tensorNames.filter { file.info($0)?.shape.count == 2 }
        if let limit { names = Array(names.prefix(limit)) }
        guard !names.isEmpty else { throw CommandLineError("\(deltas) has no 2-D tensors.") }
        let matrices = try names.map { try file.load($0) }
        let torch = try torchRanks.map(loadRanks)

        var results: [MethodResult] = []
        var ranksByMethod: [String: [String: Int]] = [:]
        for method in try parsedMethods() {
            var times: [Double] = []
            var ranks: [String: Int] = [:]
            var solvers: [String: Int] = [:]
            var kept = 0, full = 0
            for round in 0..<`repeat` {
                let start = ContinuousClock.now
                var roundSolvers: [String: Int] = [:]
                kept = 0
                full = 0
                let tau = self.tau
                try OrderedPipeline.run(
                    count: names.count, workers: workers ?? OrderedPipeline.defaultWorkers,
                    load: { ($0, matrices[$0]) },
                    work: { index, matrix in
                        let matrixStart = ContinuousClock.now
                        let factors = try LowRank.factorize(matrix, name: names[index], tau: tau, method: method)
                        return (factors, secondsSince(matrixStart))
                    },
                    consume: { index, output in
                        let (factors, seconds) = output
                        let name = names[index]
                        if verbose, round == 0 {
                            printToStandardError(String(format: "  %@ rank %d %@ sketch %d: %.1f ms", name, factors.rank,
                                                        factors.solver, factors.sketchColumns ?? 0, 1000 * seconds))
                        }
                        ranks[name] = factors.rank
                        roundSolvers[factors.solver, default: 0] += 1
                        if let precision = factors.exactPrecision { roundSolvers[precision, default: 0] += 1 }
                        kept += factors.rank * (factors.rows + factors.columns)
                        full += factors.rows * factors.columns
                    })
                times.append(secondsSince(start))
                solvers = roundSolvers
                if !json {
                    printToStandardError(String(format: "%@ round %d: %.3f s", method.rawValue, round + 1, times.last!))
                }
            }
            let values = names.map { ranks[$0] ?? 0 }
            results.append(MethodResult(
                method: method.rawValue, seconds: times, bestSeconds: times.min() ?? 0, solvers: solvers,
                rankMin: values.min() ?? 0, rankMax: values.max() ?? 0, rankSum: values.reduce(0, +),
                parameterShare: Double(kept) / Double(max(full, 1)), mismatchesWithExact: nil,
                mismatchesWithTorch: torch.map { reference in names.filter { reference[$0] != ranks[$0] }.count }))
            ranksByMethod[method.rawValue] = ranks
        }
        if let exactRanks = ranksByMethod[SVDMethod.exact.rawValue] {
            for i in results.indices {
                let ranks = ranksByMethod[results[i].method] ?? [:]
                results[i].mismatchesWithExact = names.filter { exactRanks[$0] != ranks[$0] }.count
            }
        }
        let output = Output(file: deltas, matrices: names.count, tau: tau, results: results)
        if json { try printJSON(output); return }
        print("\(names.count) matrices from \(deltas), tau \(tau), best of \(`repeat`):")
        for result in results {
            var line = String(format: "  %-10@ %8.3f s  ranks %d…%d (sum %d, %.1f %% of parameters)",
                              result.method as NSString, result.bestSeconds, result.rankMin, result.rankMax,
                              result.rankSum, 100 * result.parameterShare)
            line += "  solvers " + result.solvers.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            if let mismatches = result.mismatchesWithExact { line += "  rank mismatches vs exact: \(mismatches)" }
            if let mismatches = result.mismatchesWithTorch { line += ", vs torch: \(mismatches)" }
            print(line)
        }
    }

    func loadRanks(_ path: String) throws -> [String: Int] {
        let text = try readTextFile(path)
        guard let ranks = try? JSONDecoder().decode([String: Int].self, from: Data(text.utf8)) else {
            throw CommandLineError("\(path) is not a JSON object of tensor names to ranks.")
        }
        return ranks
    }
}
