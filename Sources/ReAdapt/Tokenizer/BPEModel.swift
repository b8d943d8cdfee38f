import Foundation

/// The BPE model of `tokenizer.json`, for both byte-level (GPT-2 family) and SentencePiece-style
/// (byte fallback, unk) vocabularies. Vocabulary keys are exact UTF-8 bytes, never Strings, so
/// canonically equivalent but different tokens stay distinct.
final class BPEModel {
    let vocab: [[UInt8]: Int32]
    private(set) var tokens: [[UInt8]?]          // id → token bytes
    /// (left id << 32 | right id) → (rank << 32 | merged id)
    private let merges: [UInt64: UInt64]
    private let scalarIDs: [UInt32: Int32]       // single-scalar tokens without prefix
    private let byteLevelIDs: [Int32]            // raw byte → id of its mapped scalar, or -1
    private let byteFallbackIDs: [Int32]?        // raw byte → id of <0xNN>
    private let unkID: Int32?
    let unkToken: String?
    private let fuseUnk: Bool
    private let ignoreMerges: Bool
    private let prefix: [UInt8]                  // continuing_subword_prefix
    private let suffix: [UInt8]                  // end_of_word_suffix
    /// For byte-level vocabularies with ignore_merges: raw bytes of each token → id.
    private let rawVocab: [ByteKey: Int32]
    private let vocabByKey: [ByteKey: Int32]   // the same as `vocab`, for the hot path

    private let cacheLock = NSLock()
    private var cache: [ByteKey: [Int32]] = [:]
    private var byteLevelCache: [ByteKey: [Int32]] = [:]
    private let cacheCapacity = 10_000
    private let maxCachedLength = 256

    /// Ids index a dense table; a corrupt id must not make it allocate gigabytes.
    static let maxVocabularyID = 1 << 24

    init(json: JSONObject) throws {
        if let type = try json.optionalString("type"), type != "BPE" {
            throw TokenizerError.unsupportedComponent(path: json.path, kind: "model", type: type)
        }
        if let d = json["dropout"]?.double, d > 0 {
            throw json.invalid("dropout", "BPE dropout is not supported")
        }
        guard let vocabMembers = json["vocab"]?.members else {
            throw json.isNull("vocab") ? TokenizerError.missingField(path: json.path, field: json.name("vocab"))
                                       : json.invalid("vocab", "expected an object of token → id")
        }
        // Built straight from the ordered members; a repeated token keeps its last id, as in Python.
        var vocab = [[UInt8]: Int32](minimumCapacity: vocabMembers.count)
        var maxID = -1
        for (token, value) in vocabMembers {
            guard let id = value.int, id >= 0 else {
                throw json.invalid("vocab", "the id of token \"\(token)\" is not a non-negative integer")
            }
            guard id < BPEModel.maxVocabularyID else {
                throw json.invalid("vocab", "the id \(id) of token \"\(token)\" is implausibly large")
            }
            vocab[Array(token.utf8)] = Int32(id)
            maxID = max(maxID, id)
        }
        var tokens = [[UInt8]?](repeating: nil, count: maxID + 1)
        for (bytes, id) in vocab { tokens[Int(id)] = bytes }
        self.vocab = vocab
        self.tokens = tokens

        prefix = Array((try json.optionalString("continuing_subword_prefix") ?? "").utf8)
        suffix = Array((try json.optionalString("end_of_word_suffix") ?? "").utf8)
        fuseUnk = try json.bool("fuse_unk", default: false)
        ignoreMerges = try json.bool("ignore_merges", default: false)
        unkToken = try json.optionalString("unk_token")
        unkID = unkToken.flatMap { vocab[Array($0.utf8)] }

        var merges = [UInt64: UInt64](minimumCapacity: vocabMembers.count)
        let prefixLength = prefix.count
        for (rank, entry) in try json.array("merges").enumerated() {
            let left: String, right: String
            if let s = entry.string {
                // "a b": split at the first space (tokens never contain a plain space here).
                guard let space = s.utf8.firstIndex(of: 0x20) else {
                    throw json.invalid("merges", "merge \(rank) (\"\(s)\") is not two tokens separated by a space")
                }
                left = String(s[..<space])
                right = String(s[s.utf8.index(after: space)...])
            } else if let pair = entry.array, pair.count == 2, let a = pair[0].string, let b = pair[1].string {
                left = a; right = b
            } else {
                throw json.invalid("merges", "merge \(rank) is neither \"a b\" nor [\"a\", \"b\"]")
            }
            let l = Array(left.utf8), r = Array(right.utf8)
            guard let lid = vocab[l], let rid = vocab[r] else {
                throw json.invalid("merges", "merge \(rank) (\"\(left)\" \"\(right)\") uses a token missing from the vocabulary")
            }
            let mergedBytes = l + (r.starts(with: prefix) ? Array(r.dropFirst(prefixLength)) : r)
            guard let mid = vocab[mergedBytes] else {
                throw json.invalid("merges", "merge \(rank) (\"\(left)\" \"\(right)\") produces a token missing from the vocabulary")
            }
            let key = UInt64(UInt32(lid)) << 32 | UInt64(UInt32(rid))
            merges[key] = UInt64(rank) << 32 | UInt64(UInt32(mid))   // a repeated pair keeps its last rank, as in tokenizers
        }
        self.merges = merges

        var scalarIDs = [UInt32: Int32]()
        for (bytes, id) in vocab where bytes.count <= 4 {
            let t = ScalarText(bytes)
            if t.count == 1 { scalarIDs[t.scalars[0]] = id }
        }
        self.scalarIDs = scalarIDs
        byteLevelIDs = ByteLevelAlphabet.scalarForByte.map { scalarIDs[$0] ?? -1 }
        if try json.bool("byte_fallback", default: false) {
            var ids = [Int32](repeating: -1, count: 256)
            for b in 0..<256 {
                ids[b] = vocab[Array(String(format: "<0x%02X>", b).utf8)] ?? -1
            }
            byteFallbackIDs = ids.contains(-1) ? nil : ids
        } else {
            byteFallbackIDs = nil
        }
        var raw = [ByteKey: Int32]()
        var byKey = [ByteKey: Int32]()
        if ignoreMerges {
            for (bytes, id) in vocab {
                byKey[ByteKey(bytes)] = id
                if let r = ByteLevelAlphabet.decode(bytes) { raw[ByteKey(r)] = id }
            }
        }
        rawVocab = raw
        vocabByKey = byKey
    }

    var vocabularySize: Int { vocab.count }

    /// The ids of one pre-token.
    func tokenize(_ piece: Piece, into out: inout [Int]) {
        if piece.bytes.isEmpty { return }
        let key = ByteKey(piece.bytes)
        if ignoreMerges {
            let direct = piece.isByteLevel ? rawVocab[key] : vocabByKey[key]
            if let id = direct { out.append(Int(id)); return }
        }
        let cacheable = piece.bytes.count < maxCachedLength
        if cacheable {
            cacheLock.lock()
            let hit = piece.isByteLevel ? byteLevelCache[key] : cache[key]
            cacheLock.unlock()
            if let hit {
                for id in hit { out.append(Int(id)) }
                return
            }
        }
        let ids = mergeWord(initialSymbols(piece))
        for id in ids { out.append(Int(id)) }
        if cacheable {
            cacheLock.lock()
            if piece.isByteLevel {
                if byteLevelCache.count < cacheCapacity { byteLevelCache[key] = ids }
            } else if cache.count < cacheCapacity {
                cache[key] = ids
            }
            cacheLock.unlock()
        }
    }

    /// One symbol per scalar (per mapped byte for byte-level pieces), with byte fallback or
    /// (fused) unk for scalars missing from the vocabulary, as tokenizers' `merge_word`.
    private func initialSymbols(_ piece: Piece) -> [Int32] {
        var symbols = [Int32]()
        symbols.reserveCapacity(piece.bytes.count)
        if piece.isByteLevel && prefix.isEmpty && suffix.isEmpty && !byteLevelIDs.contains(-1) {
            for b in piece.bytes { symbols.append(byteLevelIDs[Int(b)]) }
            return symbols
        }
        let bytes = piece.isByteLevel ? ByteLevelAlphabet.encode(piece.bytes) : piece.bytes
        let text = ScalarText(bytes)
        var pendingUnk = false
        for i in 0..<text.count {
            var id: Int32?
            if prefix.isEmpty && suffix.isEmpty {
                id = scalarIDs[text.scalars[i]]
            } else {
                var key = (i > 0 ? prefix : []) + bytes[text.offsets[i]..<text.offsets[i + 1]]
                if i == text.count - 1 { key += suffix }
                id = vocab[key]
            }
            if let id {
                if pendingUnk, let unk = unkID { symbols.append(unk); pendingUnk = false }
                symbols.append(id)
                continue
            }
            if let fallback = byteFallbackIDs {
                if pendingUnk, let unk = unkID { symbols.append(unk); pendingUnk = false }
                for b in bytes[text.offsets[i]..<text.offsets[i + 1]] { symbols.append(fallback[Int(b)]) }
                continue
            }
            guard let unk = unkID else { continue }   // no unk token: the scalar is dropped
            if pendingUnk && !fuseUnk { symbols.append(unk) }
            pendingUnk = true
        }
        if pendingUnk, let unk = unkID { symbols.append(unk) }
        return symbols
    }

    @inline(__always) private func merge(_ left: Int32, _ right: Int32) -> UInt64? {
        merges[UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))]
    }

    /// Applies merges lowest rank first (leftmost on ties) over a linked list of symbols, with a
    /// binary heap of candidate pairs validated lazily, as tokenizers' `Word::merge_all`.
    private func mergeWord(_ initial: [Int32]) -> [Int32] {
        var ids = initial
        let n = ids.count
        if n < 2 { return ids }
        var next = [Int32](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n { buf[i] = Int32(i + 1) }
            buf[n - 1] = -1
            count = n
        }
        var prev = (0..<n).map { Int32($0 - 1) }
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        for i in 0..<(n - 1) {
            if let m = merge(ids[i], ids[i + 1]) {
                heap.push(MergeCandidate(rank: UInt32(m >> 32), position: Int32(i), newID: Int32(truncatingIfNeeded: m)))
            }
        }
        while let top = heap.pop() {
            let pos = Int(top.position)
            guard alive[pos], next[pos] >= 0 else { continue }
            let right = Int(next[pos])
            guard let m = merge(ids[pos], ids[right]), Int32(truncatingIfNeeded: m) == top.newID else { continue }
            ids[pos] = top.newID
            alive[right] = false
            next[pos] = next[right]
            if next[right] >= 0 { prev[Int(next[right])] = Int32(pos) }
            if prev[pos] >= 0, let m = merge(ids[Int(prev[pos])], ids[pos]) {
                heap.push(MergeCandidate(rank: UInt32(m >> 32), position: prev[pos], newID: Int32(truncatingIfNeeded: m)))
            }
            if next[pos] >= 0, let m = merge(ids[pos], ids[Int(next[pos])]) {
                heap.push(MergeCandidate(rank: UInt32(m >> 32), position: Int32(pos), newID: Int32(truncatingIfNeeded: m)))
            }
        }
        var out = [Int32]()
        out.reserveCapacity(n)
        var i: Int32 = 0
        while i >= 0 { out.append(ids[Int(i)]); i = next[Int(i)] }
        return out
    }
}

struct MergeCandidate {
    var rank: UInt32
    var position: Int32
    var newID: Int32
    @inline(__always) var key: UInt64 { UInt64(rank) << 32 | UInt64(UInt32(position)) }
}

/// A binary min-heap ordered by (rank, position).
struct MergeHeap {
    private var items: [MergeCandidate] = []

    mutating func push(_ c: MergeCandidate) {
        items.append(c)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent].key <= items[i].key { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> MergeCandidate? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return first }
        items[0] = last
        var i = 0
        let n = items.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < n && items[l].key < items[smallest].key { smallest = l }
            if r < n && items[r].key < items[smallest].key { smallest = r }
            if smallest == i { break }
            items.swapAt(i, smallest)
            i = smallest
        }
        return first
    }
}

/// Byte-exact dictionary key with a precomputed FNV-1a hash, so a lookup feeds the hasher one
/// word instead of every byte.
struct ByteKey: Hashable {
    let bytes: [UInt8]
    let hash64: UInt64

    @inline(__always)
    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        hash64 = h
    }

    static func == (a: ByteKey, b: ByteKey) -> Bool { a.hash64 == b.hash64 && a.bytes == b.bytes }
    func hash(into hasher: inout Hasher) { hasher.combine(hash64) }
}
