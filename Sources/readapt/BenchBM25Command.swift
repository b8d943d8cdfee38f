import ArgumentParser
import Foundation
import ReAdapt

/// `readapt bench bm25`: builds a BM25 index over a seeded synthetic corpus (Zipfian words) and
/// times index building, persistence and top-k queries.
struct BenchBM25: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bm25",
        abstract: "Time BM25 index building and top-k queries on a synthetic Zipfian corpus.")

    @Option(name: .long, help: "Passages in the synthetic corpus.")
    var passages = 1_000_000

    @Option(name: .long, help: "Words per passage.")
    var words = 100

    @Option(name: .long, help: "Distinct words; word ranks follow Zipf's law with exponent 1.")
    var vocabulary = 200_000

    @Option(name: .long, help: "Timed queries (each 3 to 8 Zipfian words).")
    var queries = 1_000

    @Option(name: .customShort("k"), help: "Passages returned per query.")
    var topK = 10

    @Option(name: .long, help: "Random seed of the corpus and queries.")
    var seed: UInt64 = 1

    func validate() throws {
        guard passages >= 1, words >= 1, vocabulary >= 1, queries >= 1, topK >= 1 else {
            throw ValidationError("--passages, --words, --vocabulary, --queries and -k must be at least 1.")
        }
    }

    func run() throws {
        var random = SplitMix64(seed: seed)
        let sampler = ZipfSampler(count: vocabulary)
        let lexicon = (0..<vocabulary).map(Self.word)
        func text(_ length: Int) -> String {
            var bytes: [UInt8] = []
            for i in 0..<length {
                if i > 0 { bytes.append(0x20) }
                bytes.append(contentsOf: lexicon[sampler.sample(&random)].utf8)
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        var start = ContinuousClock.now
        let corpus = (0..<passages).map { _ in text(words) }
        let querySet = (0..<queries).map { _ in text(3 + Int(random.next() % 6)) }
        let generateSeconds = secondsSince(start)
        let residentBeforeIndex = currentResidentBytes()

        start = ContinuousClock.now
        let index = try BM25Index(passages: corpus)
        let buildSeconds = secondsSince(start)
        let residentAfterIndex = currentResidentBytes()

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("readapt-bench-\(getpid()).bm25index")
        defer { try? FileManager.default.removeItem(at: file) }
        start = ContinuousClock.now
        try BM25IndexFile.write(index, sourceFingerprint: seed, to: file)
        let writeSeconds = secondsSince(start)
        start = ContinuousClock.now
        _ = try BM25IndexFile.read(from: file)
        let readSeconds = secondsSince(start)
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0

        start = ContinuousClock.now
        var checksum = 0
        for query in querySet { checksum &+= index.top(query: query, k: topK).first?.passage ?? 0 }
        let querySeconds = secondsSince(start)

        printToStandardError(String(format: "bm25: %d passages × %d words, %d terms, %d postings: build %.2f s, %.0f queries/s (top-%d), index %.0f MB (file %.0f MB, write %.2f s, read %.2f s)",
                                    passages, words, index.termCount, index.postingCount, buildSeconds,
                                    Double(queries) / querySeconds, topK, Double(index.approximateBytes) / 1e6,
                                    Double(fileBytes) / 1e6, writeSeconds, readSeconds))
        try printJSON([
            "passages": Double(passages), "words_per_passage": Double(words), "terms": Double(index.termCount),
            "postings": Double(index.postingCount), "corpus_generation_seconds": generateSeconds,
            "index_build_seconds": buildSeconds, "index_bytes": Double(index.approximateBytes),
            "resident_growth_during_build_bytes": Double(residentAfterIndex - residentBeforeIndex),
            "peak_resident_bytes": Double(TrainingBenchmark.peakResidentBytes),
            "index_file_bytes": Double(fileBytes), "index_write_seconds": writeSeconds, "index_read_seconds": readSeconds,
            "queries": Double(queries), "top_k": Double(topK), "queries_per_second": Double(queries) / querySeconds,
            "checksum": Double(checksum),
        ])
    }

    /// A distinct lowercase word for each rank ("a", "b", …, "ba", …).
    static func word(_ rank: Int) -> String {
        var n = rank, letters: [UInt8] = []
        repeat { letters.append(UInt8(ascii: "a") + UInt8(n % 26)); n /= 26 } while n > 0
        return String(decoding: letters, as: UTF8.self)
    }

    /// Resident set size now, from /proc/self/statm (0 where unavailable).
    func currentResidentBytes() -> Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

/// Ranks 0..<count with probability ∝ 1/(rank+1), by binary search in the cumulative weights.
struct ZipfSampler {
    let cumulative: [Double]
    init(count: Int) {
        var sum = 0.0
        cumulative = (0..<count).map { sum += 1 / Double($0 + 1); return sum }
    }
    func sample(_ random: inout SplitMix64) -> Int {
        let u = Double(random.next() >> 11) / Double(1 << 53) * cumulative[cumulative.count - 1]
        var low = 0, high = cumulative.count - 1
        while low < high { let mid = (low + high) / 2; if cumulative[mid] <= u { low = mid + 1 } else { high = mid } }
        return low
    }
}
