/// Question-answering metrics as the RE-Adapt paper and SQuAD compute them: `contains` (the paper's
/// "exact match"), ROUGE-L recall, SQuAD exact match and SQuAD token F1, each the maximum over the
/// gold answers of one question. docs/evaluation-metrics.md states every rule; the values are pinned
/// by Tests/ReAdaptTests/QAMetricsTests.swift against scripts/fixtures/make_metric_fixtures.py.
///
/// Everything works on Unicode scalars (Python code points), never on Swift `Character`s: Swift's
/// `String ==` and `contains` use canonical equivalence and grapheme clusters, which Python's SQuAD
/// script does not, so "é" and "e\u{301}" are different here exactly as they are there.

public enum QAMetricsError: Error, CustomStringConvertible, Equatable {
    case noGoldAnswers

    public var description: String {
        switch self {
        case .noGoldAnswers: return "A question has no gold answers, so it cannot be scored."
        }
    }
}

/// The four scores of one response against its gold answers, each in [0, 1].
public struct QAScores: Equatable, Sendable {
    public var contains: Double
    public var rougeLRecall: Double
    public var exactMatch: Double
    public var f1: Double

    public init(contains: Double, rougeLRecall: Double, exactMatch: Double, f1: Double) {
        self.contains = contains
        self.rougeLRecall = rougeLRecall
        self.exactMatch = exactMatch
        self.f1 = f1
    }
}

public enum QAMetrics {
    /// A normalised answer: its scalars and its whitespace-separated tokens.
    public struct NormalizedText: Equatable, Sendable {
        public let scalars: [Unicode.Scalar]
        public let tokens: [[Unicode.Scalar]]

        /// The normalised text as a String (for display; compare `scalars`, not this).
        public var string: String {
            var s = String.UnicodeScalarView()
            s.append(contentsOf: scalars)
            return String(s)
        }
    }

    /// SQuAD's normalize_answer: Python `str.lower()`, drop the 32 ASCII characters of Python's
    /// `string.punctuation`, replace each whole word a/an/the (a maximal run of Python regex word
    /// characters) by a space, and join the whitespace-split tokens with single spaces.
    public static func normalize(_ text: String) -> NormalizedText {
        let lowered = PythonText.lower(Array(text.unicodeScalars))
        let unpunctuated = lowered.filter { !PythonText.isASCIIPunctuation($0) }
        let withoutArticles = PythonText.replaceArticles(unpunctuated)
        let tokens = PythonText.split(withoutArticles)
        var joined: [Unicode.Scalar] = []
        for (i, token) in tokens.enumerated() {
            if i > 0 { joined.append(" ") }
            joined.append(contentsOf: token)
        }
        return NormalizedText(scalars: joined, tokens: tokens)
    }

    /// All four metrics of `response` against `golds`, each the maximum over the golds.
    /// Throws `QAMetricsError.noGoldAnswers` for an empty gold list.
    public static func score(response: String, golds: [String]) throws -> QAScores {
        guard !golds.isEmpty else { throw QAMetricsError.noGoldAnswers }
        let r = normalize(response)
        var best = QAScores(contains: 0, rougeLRecall: 0, exactMatch: 0, f1: 0)
        for gold in golds {
            let g = normalize(gold)
            best.contains = max(best.contains, contains(response: r, gold: g))
            best.rougeLRecall = max(best.rougeLRecall, rougeLRecall(response: r, gold: g))
            best.exactMatch = max(best.exactMatch, exactMatch(response: r, gold: g))
            best.f1 = max(best.f1, f1(response: r, gold: g))
        }
        return best
    }

    /// 1 when the normalised gold is a substring (of scalars, not necessarily on token boundaries)
    /// of the normalised response. An empty normalised gold (e.g. the gold "The") counts only against
    /// an empty response, so it cannot match every response.
    public static func contains(response: NormalizedText, gold: NormalizedText) -> Double {
        if gold.scalars.isEmpty { return response.scalars.isEmpty ? 1 : 0 }
        return isSubsequenceRun(gold.scalars, of: response.scalars) ? 1 : 0
    }

    /// Longest common subsequence of the tokens divided by the gold's token count; with an empty
    /// gold, 1 when the response is also empty, else 0 (SQuAD 2.0's rule for empty answers).
    public static func rougeLRecall(response: NormalizedText, gold: NormalizedText) -> Double {
        if gold.tokens.isEmpty { return response.tokens.isEmpty ? 1 : 0 }
        let lcs = longestCommonSubsequence(response.tokens, gold.tokens)
        return Double(lcs) / Double(gold.tokens.count)
    }

    /// SQuAD exact match: 1 when the normalised strings are identical scalar for scalar.
    public static func exactMatch(response: NormalizedText, gold: NormalizedText) -> Double {
        response.scalars == gold.scalars ? 1 : 0
    }

    /// SQuAD token F1 over the bags of tokens; when either side has no tokens, 1 if both are
    /// empty else 0 (the SQuAD 2.0 script's rule; SQuAD 1.1 gives 0 for empty vs empty).
    public static func f1(response: NormalizedText, gold: NormalizedText) -> Double {
        let p = response.tokens, g = gold.tokens
        if p.isEmpty || g.isEmpty { return p == g ? 1 : 0 }
        var goldCounts: [[Unicode.Scalar]: Int] = [:]
        for token in g { goldCounts[token, default: 0] += 1 }
        var same = 0
        for token in p {
            if let c = goldCounts[token], c > 0 {
                goldCounts[token] = c - 1
                same += 1
            }
        }
        if same == 0 { return 0 }
        let precision = Double(same) / Double(p.count)
        let recall = Double(same) / Double(g.count)
        // Same operation order as the Python reference so the doubles agree bit for bit.
        return (2 * precision * recall) / (precision + recall)
    }

    static func isSubsequenceRun(_ needle: [Unicode.Scalar], of haystack: [Unicode.Scalar]) -> Bool {
        if needle.count > haystack.count { return false }
        for start in 0...(haystack.count - needle.count)
        where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return true
        }
        return false
    }

    /// Classic O(n·m) dynamic programme with two rows.
    static func longestCommonSubsequence(_ a: [[Unicode.Scalar]], _ b: [[Unicode.Scalar]]) -> Int {
        if a.isEmpty || b.isEmpty { return 0 }
        var previous = [Int](repeating: 0, count: b.count + 1)
        var current = previous
        for x in a {
            for (j, y) in b.enumerated() {
                current[j + 1] = x == y ? previous[j] + 1 : max(previous[j + 1], current[j])
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
