import Foundation

/// BM25's tokenizer: lowercase and split on everything that is not a letter, mark or number.
///
/// Scalar by scalar: a Unicode scalar whose general category is a Letter (L*), Mark (M*) or Number
/// (N*) belongs to a token and is replaced by its full lowercase mapping (per scalar, no context, so
/// "Σ" is always "σ"); any other scalar (space, punctuation, symbol, control) ends the token. No
/// Unicode normalisation and no stemming or stop words. Python equivalent (used by the fixtures):
/// `unicodedata.category(ch)[0] in "LMN"` and `ch.lower()` per character.
public enum BM25Tokenizer {
    public static func tokens(_ text: String) -> [String] {
        var result: [String] = []
        forEachToken(text) { result.append(String(decoding: $0, as: UTF8.self)) }
        return result
    }

    /// Calls `body` with each token's UTF-8 bytes (a reused buffer), without building Strings.
    static func forEachToken(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        var token: [UInt8] = []
        token.reserveCapacity(64)
        func flush() {
            if !token.isEmpty { token.withUnsafeBufferPointer(body); token.removeAll(keepingCapacity: true) }
        }
        for scalar in text.unicodeScalars {
            let v = scalar.value
            if v < 0x80 {
                let byte = UInt8(v)
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): token.append(byte)
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): token.append(byte + 32)
                default: flush()
                }
                continue
            }
            switch scalar.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
                 .nonspacingMark, .spacingMark, .enclosingMark,
                 .decimalNumber, .letterNumber, .otherNumber:
                token.append(contentsOf: scalar.properties.lowercaseMapping.utf8)
            default:
                flush()
            }
        }
        flush()
    }
}

/// Okapi BM25's constants, with rank_bm25's defaults.
public struct BM25Parameters: Equatable, Sendable {
    /// Term-frequency saturation.
    public var k1: Double
    /// Length normalisation (0 = none, 1 = full).
    public var b: Double
    /// Terms in more than half the passages have a negative idf; like rank_bm25 it is replaced by
    /// `epsilon × average idf` (over the whole vocabulary).
    public var epsilon: Double

    public init(k1: Double = 1.5, b: Double = 0.75, epsilon: Double = 0.25) {
        self.k1 = k1; self.b = b; self.epsilon = epsilon
    }

    public func validate() throws {
        guard k1.isFinite, k1 >= 0 else { throw BM25Error.badParameter("k1 must be a finite number ≥ 0, not \(k1)") }
        guard b.isFinite, b >= 0, b <= 1 else { throw BM25Error.badParameter("b must be between 0 and 1, not \(b)") }
        guard epsilon.isFinite else { throw BM25Error.badParameter("epsilon must be finite, not \(epsilon)") }
    }
}

/// One retrieved passage: its position in the indexed passage list and its BM25 score.
public struct BM25Hit: Equatable, Sendable {
    public var passage: Int
    public var score: Double
    public init(passage: Int, score: Double) { self.passage = passage; self.score = score }
}

/// An inverted index over passages, scoring exactly as rank_bm25's `BM25Okapi`:
///
///     idf(t)    = ln(N − n(t) + 0.5) − ln(n(t) + 0.5), negative values → epsilon · mean idf
///     score(q,d) = Σ over query tokens t (repeats count again) of
///                  idf(t) · tf·(k1 + 1) / (tf + k1·(1 − b + b·|d| / avgdl))
///
/// with N passages, n(t) passages containing t, tf the count of t in d, |d| the token count of d.
/// Query tokens not in the vocabulary add 0. Scores are Double, computed in rank_bm25's order.
public final class BM25Index: @unchecked Sendable {
    public let parameters: BM25Parameters
    /// Term → term id.
    let vocabulary: [String: Int32]
    /// Postings of term t: `postingPassages[termStarts[t]..<termStarts[t+1]]` (ascending) with the
    /// matching term frequencies in `postingCounts`.
    let termStarts: [Int]
    let postingPassages: [Int32]
    let postingCounts: [Int32]
    /// Token count of every passage.
    let passageLengths: [Int32]
    /// idf per term id (after the epsilon floor).
    let idf: [Double]
    let averageLength: Double
    /// k1·(1 − b + b·|d|/avgdl) per passage: the same arithmetic as rank_bm25, done once per passage.
    let lengthNorms: [Double]

    public var passageCount: Int { passageLengths.count }
    public var termCount: Int { vocabulary.count }
    public var postingCount: Int { postingPassages.count }
    /// Bytes held by the index's arrays (postings, offsets, lengths, idf; the term dictionary is
    /// estimated at 48 bytes per entry plus the term bytes).
    public var approximateBytes: Int {
        8 * postingCount + 8 * (termCount + 1) + 4 * passageCount + 8 * termCount
            + vocabulary.keys.reduce(0) { $0 + 48 + $1.utf8.count }
    }

    /// Builds the index of `passages` (texts, tokenized with `BM25Tokenizer`).
    public convenience init(passages: [String], parameters: BM25Parameters = BM25Parameters()) throws {
        var builder = BM25IndexBuilder()
        for text in passages { builder.add(text) }
        try self.init(builder: builder, parameters: parameters)
    }

    /// Builds the index of already-tokenized passages.
    public convenience init(tokenizedPassages: [[String]], parameters: BM25Parameters = BM25Parameters()) throws {
        var builder = BM25IndexBuilder()
        for tokens in tokenizedPassages { builder.add(tokens: tokens) }
        try self.init(builder: builder, parameters: parameters)
    }

    convenience init(builder: BM25IndexBuilder, parameters: BM25Parameters) throws {
        let (starts, passages, counts) = builder.invertedPostings()
        try self.init(vocabulary: builder.vocabulary, termStarts: starts, postingPassages: passages,
                      postingCounts: counts, passageLengths: builder.lengths, parameters: parameters)
    }

    init(vocabulary: [String: Int32], termStarts: [Int], postingPassages: [Int32], postingCounts: [Int32],
         passageLengths: [Int32], parameters: BM25Parameters) throws {
        try parameters.validate()
        guard !passageLengths.isEmpty else { throw BM25Error.emptyCorpus }
        self.parameters = parameters
        self.vocabulary = vocabulary
        self.termStarts = termStarts
        self.postingPassages = postingPassages
        self.postingCounts = postingCounts
        self.passageLengths = passageLengths
        let n = passageLengths.count
        var totalLength = 0
        for length in passageLengths { totalLength += Int(length) }
        averageLength = Double(totalLength) / Double(n)
        // rank_bm25 averages the idf before flooring, over every term, then floors negatives.
        var idf = [Double](repeating: 0, count: vocabulary.count)
        var sum = 0.0
        for t in 0..<idf.count {
            let df = Double(termStarts[t + 1] - termStarts[t])
            idf[t] = log(Double(n) - df + 0.5) - log(df + 0.5)
            sum += idf[t]
        }
        let floor = idf.isEmpty ? 0 : parameters.epsilon * (sum / Double(idf.count))
        for t in 0..<idf.count where idf[t] < 0 { idf[t] = floor }
        self.idf = idf
        let (k1, b, average) = (parameters.k1, parameters.b, averageLength)
        lengthNorms = passageLengths.map { k1 * (1 - b + b * Double($0) / average) }
    }

    /// The BM25 score of every passage for `query` (tokenized with `BM25Tokenizer`).
    public func scores(query: String) -> [Double] { scores(queryTokens: BM25Tokenizer.tokens(query)) }

    public func scores(queryTokens: [String]) -> [Double] {
        var scores = [Double](repeating: 0, count: passageCount)
        accumulate(queryTokens) { passage, term in scores[passage] += term }
        return scores
    }

    /// The `k` best passages for `query`, best first. Equal scores rank by passage order (lower
    /// index first); passages sharing no term with the query score 0 and can fill the list.
    public func top(query: String, k: Int) -> [BM25Hit] { top(queryTokens: BM25Tokenizer.tokens(query), k: k) }

    public func top(queryTokens: [String], k: Int) -> [BM25Hit] {
        let k = min(max(k, 0), passageCount)
        guard k > 0 else { return [] }
        // Sparse accumulation into a dense buffer: only passages containing a query term are
        // touched, remembered in `touched` and zeroed again afterwards.
        var scores = [Double](repeating: 0, count: passageCount)
        var seen = [UInt64](repeating: 0, count: (passageCount + 63) / 64)
        var touched: [Int32] = []
        scores.withUnsafeMutableBufferPointer { scores in
            seen.withUnsafeMutableBufferPointer { seen in
                accumulate(queryTokens) { passage, term in
                    if seen[passage >> 6] & (1 << UInt64(passage & 63)) == 0 {
                        seen[passage >> 6] |= 1 << UInt64(passage & 63)
                        touched.append(Int32(passage))
                    }
                    scores[passage] += term
                }
            }
        }
        var selection = TopSelection(k: k)
        for passage in touched { selection.offer(BM25Hit(passage: Int(passage), score: scores[Int(passage)])) }
        // Untouched passages all score 0; only the first k of them (by index) can make the list.
        var filler = 0, passage = 0
        while filler < k && passage < passageCount {
            if seen[passage >> 6] & (1 << UInt64(passage & 63)) == 0 {
                selection.offer(BM25Hit(passage: passage, score: 0)); filler += 1
            }
            passage += 1
        }
        return selection.kept
    }

    /// Calls `add(passage, contribution)` for every (query token, passage containing it) pair, in
    /// query-token order, so each passage's sum is formed in the same order as rank_bm25's.
    private func accumulate(_ queryTokens: [String], _ add: (Int, Double) -> Void) {
        let k1Plus1 = parameters.k1 + 1
        lengthNorms.withUnsafeBufferPointer { norms in
            postingPassages.withUnsafeBufferPointer { passages in
                postingCounts.withUnsafeBufferPointer { counts in
                    for token in queryTokens {
                        guard let t = vocabulary[token].map(Int.init) else { continue }
                        let weight = idf[t]
                        for p in termStarts[t]..<termStarts[t + 1] {
                            let passage = Int(passages[p])
                            let tf = Double(counts[p])
                            add(passage, weight * (tf * k1Plus1 / (tf + norms[passage])))
                        }
                    }
                }
            }
        }
    }
}

/// The k best hits offered so far, best first: score descending, then passage ascending.
struct TopSelection {
    let k: Int
    private(set) var kept: [BM25Hit] = []

    init(k: Int) { self.k = k; kept.reserveCapacity(k + 1) }

    static func ranksAbove(_ a: BM25Hit, _ b: BM25Hit) -> Bool {
        a.score != b.score ? a.score > b.score : a.passage < b.passage
    }

    mutating func offer(_ hit: BM25Hit) {
        if kept.count == k, !Self.ranksAbove(hit, kept[k - 1]) { return }
        var low = 0, high = kept.count
        while low < high { let mid = (low + high) / 2; if Self.ranksAbove(kept[mid], hit) { low = mid + 1 } else { high = mid } }
        kept.insert(hit, at: low)
        if kept.count > k { kept.removeLast() }
    }
}

/// A user-caused BM25 problem.
public enum BM25Error: Error, CustomStringConvertible, Equatable {
    case badParameter(String)
    case emptyCorpus
    case corruptIndex(file: String, problem: String)
    case unwritable(file: String, problem: String)

    public var description: String {
        switch self {
        case .badParameter(let problem): return "Invalid BM25 parameter: \(problem)."
        case .emptyCorpus: return "The BM25 index needs at least one passage, and the documents gave none."
        case let .corruptIndex(file, problem): return "\(file) is not a usable BM25 index: \(problem)."
        case let .unwritable(file, problem): return "The BM25 index \(file) could not be written: \(problem)."
        }
    }
}
