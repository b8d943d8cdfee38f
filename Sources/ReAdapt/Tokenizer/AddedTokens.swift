/// One entry of `added_tokens`.
struct AddedToken {
    let id: Int
    let content: [UInt8]
    let special: Bool
    let lstrip: Bool
    let rstrip: Bool
    let normalized: Bool
    let singleWord: Bool
}

/// A byte trie over added-token contents giving leftmost-longest, non-overlapping matches (the
/// Aho-Corasick `LeftmostLongest` search tokenizers runs), without one giant regex.
struct AddedTokenTrie {
    private var children: [[UInt8: Int32]] = [[:]]
    private var terminal: [Int32] = [-1]     // node → index into `tokens`, or -1
    private var startsToken = [Bool](repeating: false, count: 256)   // first bytes of any token
    let tokens: [AddedToken]

    init(_ tokens: [AddedToken], patterns: [[UInt8]]) {
        self.tokens = tokens
        for (index, pattern) in patterns.enumerated() where !pattern.isEmpty {
            startsToken[Int(pattern[0])] = true
            var node = 0
            for b in pattern {
                if let child = children[node][b] {
                    node = Int(child)
                } else {
                    children.append([:]); terminal.append(-1)
                    children[node][b] = Int32(children.count - 1)
                    node = children.count - 1
                }
            }
            terminal[node] = Int32(index)
        }
    }

    var isEmpty: Bool { tokens.isEmpty }

    /// The longest token starting at `start`, as (token index, end).
    private func longestMatch(_ bytes: [UInt8], from start: Int) -> (Int, Int)? {
        var node = 0, best: (Int, Int)? = nil
        var i = start
        while i < bytes.count, let child = children[node][bytes[i]] {
            node = Int(child)
            i += 1
            if terminal[node] >= 0 { best = (Int(terminal[node]), i) }
        }
        return best
    }

    /// tokenizers' `AddedVocabulary::find_matches`: the text cut into plain ranges (id nil) and
    /// added-token ranges, honouring single_word, lstrip and rstrip.
    func split(_ bytes: [UInt8]) -> [(range: Range<Int>, id: Int?)] {
        if tokens.isEmpty || bytes.isEmpty { return [(0..<bytes.count, nil)] }
        var out: [(range: Range<Int>, id: Int?)] = []
        var startOffset = 0
        var i = 0
        var text: ScalarText? = nil   // decoded lazily, only when a flag needs neighbours
        while i < bytes.count {
            guard startsToken[Int(bytes[i])], let (index, matchEnd) = longestMatch(bytes, from: i) else { i += 1; continue }
            let token = tokens[index]
            var start = i, stop = matchEnd
            i = matchEnd
            if token.singleWord || token.lstrip || token.rstrip {
                if text == nil { text = ScalarText(bytes) }
                let t = text!
                if token.singleWord {
                    let before = start == 0 ? nil : t.scalar(endingAt: start)
                    let after = stop == bytes.count ? nil : t.scalar(startingAt: stop)
                    if let b = before, UnicodeClasses.isWordCharacter(b) { continue }
                    if let a = after, UnicodeClasses.isWordCharacter(a) { continue }
                }
                if token.lstrip {
                    var s = start
                    while s > 0, let c = t.scalar(endingAt: s), UnicodeClasses.isWhitespace(c) {
                        s = t.start(ofScalarEndingAt: s)
                    }
                    start = max(s, startOffset)
                }
                if token.rstrip {
                    while stop < bytes.count, let c = t.scalar(startingAt: stop), UnicodeClasses.isWhitespace(c) {
                        stop = t.end(ofScalarStartingAt: stop)
                    }
                    i = stop
                }
            }
            if startOffset < start { out.append((startOffset..<start, nil)) }
            out.append((start..<stop, token.id))
            startOffset = stop
        }
        if startOffset != bytes.count { out.append((startOffset..<bytes.count, nil)) }
        return out
    }
}

extension ScalarText {
    /// Index of the scalar starting at a byte offset (binary search; offsets are sorted).
    private func index(ofByte offset: Int) -> Int {
        var lo = 0, hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            if offsets[mid] < offset { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
    func scalar(startingAt offset: Int) -> UInt32? {
        let i = index(ofByte: offset)
        return i < count ? scalars[i] : nil
    }
    func scalar(endingAt offset: Int) -> UInt32? {
        let i = index(ofByte: offset)
        return i > 0 ? scalars[i - 1] : nil
    }
    func start(ofScalarEndingAt offset: Int) -> Int { offsets[index(ofByte: offset) - 1] }
    func end(ofScalarStartingAt offset: Int) -> Int { offsets[index(ofByte: offset) + 1] }
}
