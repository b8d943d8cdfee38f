import Foundation

/// Collects passages one at a time (term ids and per-passage term counts), then inverts them into
/// postings sorted by passage.
struct BM25IndexBuilder {
    var vocabulary: [String: Int32] = [:]
    var lengths: [Int32] = []
    /// Per passage, its distinct term ids and their counts: `forwardTerms[forwardStarts[p]..<forwardStarts[p+1]]`.
    private var forwardStarts: [Int] = [0]
    private var forwardTerms: [Int32] = []
    private var forwardCounts: [Int32] = []
    private var documentFrequency: [Int] = []
    private var scratch: [Int32] = []

    mutating func add(_ text: String) {
        scratch.removeAll(keepingCapacity: true)
        BM25Tokenizer.forEachToken(text) { bytes in scratch.append(termID(String(decoding: bytes, as: UTF8.self))) }
        addTermIDs()
    }

    mutating func add(tokens: [String]) {
        scratch.removeAll(keepingCapacity: true)
        for token in tokens { scratch.append(termID(token)) }
        addTermIDs()
    }

    private mutating func termID(_ term: String) -> Int32 {
        if let id = vocabulary[term] { return id }
        let id = Int32(vocabulary.count)
        vocabulary[term] = id
        documentFrequency.append(0)
        return id
    }

    private mutating func addTermIDs() {
        lengths.append(Int32(scratch.count))
        scratch.sort()
        var i = 0
        while i < scratch.count {
            var j = i + 1
            while j < scratch.count && scratch[j] == scratch[i] { j += 1 }
            forwardTerms.append(scratch[i])
            forwardCounts.append(Int32(j - i))
            documentFrequency[Int(scratch[i])] += 1
            i = j
        }
        forwardStarts.append(forwardTerms.count)
    }

    /// (term starts, posting passages, posting counts): the CSR inverted index.
    func invertedPostings() -> ([Int], [Int32], [Int32]) {
        var starts = [Int](repeating: 0, count: documentFrequency.count + 1)
        for t in 0..<documentFrequency.count { starts[t + 1] = starts[t] + documentFrequency[t] }
        var cursor = starts
        var passages = [Int32](repeating: 0, count: forwardTerms.count)
        var counts = [Int32](repeating: 0, count: forwardTerms.count)
        for p in 0..<lengths.count {
            for f in forwardStarts[p]..<forwardStarts[p + 1] {
                let t = Int(forwardTerms[f])
                passages[cursor[t]] = Int32(p)
                counts[cursor[t]] = forwardCounts[f]
                cursor[t] += 1
            }
        }
        return (starts, passages, counts)
    }
}
