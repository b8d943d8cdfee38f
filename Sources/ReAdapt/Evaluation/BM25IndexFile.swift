import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The persisted BM25 index (little-endian binary):
///
///     "RABM25IX"  magic (8 bytes)
///     UInt32      format version (1), UInt32 zero
///     UInt64      source fingerprint (PassageCorpus.sourceFingerprint: documents + passage options)
///     UInt64 × 4  passages N, terms V, postings P, vocabulary bytes B
///     Int32 × N   passage token counts
///     UInt64 × (V+1) term posting starts
///     Int32 × P   posting passages, then Int32 × P posting term counts
///     B bytes     the terms in id order, each followed by a 0 byte (tokens never contain NUL)
///
/// BM25 constants are not stored: idf and scores are recomputed from the counts on load.
public enum BM25IndexFile {
    static let magic = Array("RABM25IX".utf8)
    public static let formatVersion: UInt32 = 1

    /// Writes `index` to `url` atomically (a temporary sibling renamed into place).
    public static func write(_ index: BM25Index, sourceFingerprint: UInt64, to url: URL) throws {
        var out: [UInt8] = magic
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        func putArray<T: FixedWidthInteger>(_ values: [T]) {
            for v in values { put(v) }
        }
        var terms = [String](repeating: "", count: index.termCount)
        for (term, id) in index.vocabulary { terms[Int(id)] = term }
        var vocabularyBytes: [UInt8] = []
        for term in terms { vocabularyBytes.append(contentsOf: term.utf8); vocabularyBytes.append(0) }
        put(formatVersion); put(UInt32(0)); put(sourceFingerprint)
        put(UInt64(index.passageCount)); put(UInt64(index.termCount)); put(UInt64(index.postingCount)); put(UInt64(vocabularyBytes.count))
        out.reserveCapacity(out.count + 4 * index.passageCount + 8 * (index.termCount + 1) + 8 * index.postingCount + vocabularyBytes.count)
        putArray(index.passageLengths)
        putArray(index.termStarts.map { UInt64($0) })
        putArray(index.postingPassages)
        putArray(index.postingCounts)
        out.append(contentsOf: vocabularyBytes)

        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try Data(out).write(to: temporary)
        } catch {
            throw BM25Error.unwritable(file: url.path, problem: error.localizedDescription)
        }
        guard rename(temporary.path, url.path) == 0 else {
            let problem = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw BM25Error.unwritable(file: url.path, problem: problem)
        }
    }

    /// The source fingerprint recorded in the index file at `url`, or nil when the file is absent,
    /// too short or of another format version (all mean: rebuild).
    public static func storedFingerprint(at url: URL) -> UInt64? {
        guard let handle = FileHandle(forReadingAtPath: url.path) else { return nil }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 24), head.count == 24 else { return nil }
        let bytes = [UInt8](head)
        guard Array(bytes[0..<8]) == magic, readInteger(bytes, 8, UInt32.self) == formatVersion else { return nil }
        return readInteger(bytes, 16, UInt64.self)
    }

    /// Reads an index written by `write`, checking its structure; `parameters` are the BM25
    /// constants to score with.
    public static func read(from url: URL, parameters: BM25Parameters = BM25Parameters()) throws -> BM25Index {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw BM25Error.corruptIndex(file: url.path, problem: "it could not be read")
        }
        let bytes = [UInt8](data)
        func fail(_ problem: String) -> BM25Error { .corruptIndex(file: url.path, problem: problem) }
        guard bytes.count >= 56, Array(bytes[0..<8]) == magic else { throw fail("it does not start with the BM25 index header") }
        let version = readInteger(bytes, 8, UInt32.self)
        guard version == formatVersion else { throw fail("its format version is \(version), this build reads \(formatVersion)") }
        let n = readInteger(bytes, 24, UInt64.self), v = readInteger(bytes, 32, UInt64.self)
        let p = readInteger(bytes, 40, UInt64.self), b = readInteger(bytes, 48, UInt64.self)
        guard n < 1 << 31, v < 1 << 31, p < 1 << 40, b < 1 << 40 else { throw fail("its header holds impossible sizes") }
        let (passages, terms, postings) = (Int(n), Int(v), Int(p))
        let expected = 56 + 4 * passages + 8 * (terms + 1) + 8 * postings + Int(b)
        guard bytes.count == expected else { throw fail("it is \(bytes.count) bytes where its header implies \(expected) (truncated or damaged)") }

        var offset = 56
        func int32s(_ count: Int) -> [Int32] {
            defer { offset += 4 * count }
            return bytes.withUnsafeBytes { raw in (0..<count).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4 * $0, as: Int32.self)) } }
        }
        let lengths = int32s(passages)
        let starts: [Int] = bytes.withUnsafeBytes { raw in
            (0...terms).map { Int(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8 * $0, as: UInt64.self))) }
        }
        offset += 8 * (terms + 1)
        let postingPassages = int32s(postings)
        let postingCounts = int32s(postings)
        guard starts.first == 0, starts.last == postings, zip(starts, starts.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw fail("its posting offsets are out of order")
        }
        guard postingPassages.allSatisfy({ $0 >= 0 && Int($0) < passages }), postingCounts.allSatisfy({ $0 > 0 }),
              lengths.allSatisfy({ $0 >= 0 }) else {
            throw fail("a posting names a passage that does not exist or has a non-positive count")
        }
        var vocabulary: [String: Int32] = [:]
        vocabulary.reserveCapacity(terms)
        var termStart = offset
        for i in offset..<bytes.count where bytes[i] == 0 {
            vocabulary[String(decoding: bytes[termStart..<i], as: UTF8.self)] = Int32(vocabulary.count)
            termStart = i + 1
        }
        guard vocabulary.count == terms, termStart == bytes.count else { throw fail("its vocabulary does not hold \(terms) distinct terms") }
        return try BM25Index(vocabulary: vocabulary, termStarts: starts, postingPassages: postingPassages,
                             postingCounts: postingCounts, passageLengths: lengths, parameters: parameters)
    }

    private static func readInteger<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int, _: T.Type) -> T {
        bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }
}

/// Documents, their passages and a BM25 index over them, with the index persisted next to the
/// documents and reused while they (and the passage options) are unchanged.
public struct BM25Retriever: Sendable {
    public let corpus: PassageCorpus
    public let index: BM25Index
    /// Where the index lives: `FILE.bm25index` beside a JSONL file, `DIR/.readapt.bm25index` inside a folder.
    public let indexURL: URL
    /// True when the persisted index matched the documents and was loaded instead of rebuilt.
    public let reusedIndex: Bool

    public static func indexURL(for documents: URL) -> URL {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: documents.path, isDirectory: &isDirectory), isDirectory.boolValue {
            return documents.appendingPathComponent(".readapt.bm25index")
        }
        return documents.deletingLastPathComponent().appendingPathComponent(documents.lastPathComponent + ".bm25index")
    }

    /// Loads the documents, then loads the persisted index if its fingerprint matches, else builds
    /// the index and writes it (a damaged or stale index file is rebuilt, never trusted).
    public static func open(documents: URL, passageOptions: PassageOptions = PassageOptions(),
                            parameters: BM25Parameters = BM25Parameters()) throws -> BM25Retriever {
        try parameters.validate()
        let corpus = try PassageCorpus.load(from: documents, options: passageOptions)
        let url = indexURL(for: documents)
        if BM25IndexFile.storedFingerprint(at: url) == corpus.sourceFingerprint,
           let index = try? BM25IndexFile.read(from: url, parameters: parameters),
           index.passageCount == corpus.passages.count {
            return BM25Retriever(corpus: corpus, index: index, indexURL: url, reusedIndex: true)
        }
        let index = try BM25Index(passages: corpus.passages.map(\.text), parameters: parameters)
        try BM25IndexFile.write(index, sourceFingerprint: corpus.sourceFingerprint, to: url)
        return BM25Retriever(corpus: corpus, index: index, indexURL: url, reusedIndex: false)
    }

    /// The `k` best passages for `query`, best first, with their scores.
    public func search(_ query: String, k: Int) -> [(passage: Passage, score: Double)] {
        index.top(query: query, k: k).map { (corpus.passages[$0.passage], $0.score) }
    }
}
