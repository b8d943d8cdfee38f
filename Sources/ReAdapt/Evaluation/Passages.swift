import Foundation

/// How documents are cut into passages for retrieval.
///
/// A document's words (runs of non-whitespace) are grouped into windows of `words` words; each
/// window starts `words - overlap` words after the previous one, and the last window ends at the
/// document's last word. A document shorter than one window is one passage; an empty document has
/// none. Passage text is the window's words joined by single spaces.
public struct PassageOptions: Equatable, Sendable {
    /// Words per passage (default 100, about the size of the paper's retrieval chunks).
    public var words: Int
    /// Words shared by consecutive passages of one document (default 20), so an answer that
    /// straddles a boundary still appears whole in one passage.
    public var overlap: Int

    public init(words: Int = 100, overlap: Int = 20) {
        self.words = words
        self.overlap = overlap
    }

    public func validate() throws {
        guard words >= 1 else { throw PassageError.badOptions("the passage size must be at least 1 word, not \(words)") }
        guard overlap >= 0, overlap < words else {
            throw PassageError.badOptions("the overlap must be at least 0 and smaller than the passage size \(words), not \(overlap)")
        }
    }
}

/// One retrievable unit: a window of one document.
public struct Passage: Equatable, Sendable {
    /// The id of the document it came from (the JSONL "id", or the file name for a folder).
    public var documentID: String
    /// Its position among its document's passages (0, 1, …).
    public var indexInDocument: Int
    public var text: String

    public init(documentID: String, indexInDocument: Int, text: String) {
        self.documentID = documentID
        self.indexInDocument = indexInDocument
        self.text = text
    }
}

/// A user-caused problem with documents or passage options.
public enum PassageError: Error, CustomStringConvertible, Equatable {
    case missing(String)
    case unreadable(String)
    case notUTF8(String)
    case badLine(file: String, line: Int, problem: String)
    case duplicateID(file: String, line: Int, id: String)
    case noDocuments(String)
    case badOptions(String)

    public var description: String {
        switch self {
        case .missing(let path): return "\(path) does not exist."
        case .unreadable(let path): return "\(path) could not be read."
        case .notUTF8(let path): return "\(path) is not valid UTF-8 text."
        case let .badLine(file, line, problem): return "\(file) line \(line): \(problem)."
        case let .duplicateID(file, line, id): return "\(file) line \(line): the document id \"\(id)\" was already used."
        case .noDocuments(let path): return "\(path) holds no documents (a JSONL file of {\"id\", \"text\"} lines or a folder of .txt/.md files is expected)."
        case .badOptions(let problem): return "Invalid passage options: \(problem)."
        }
    }
}

/// Documents read from disk and cut into passages, with a fingerprint of the source bytes (used to
/// tell whether a persisted BM25 index still matches them).
public struct PassageCorpus: Sendable {
    public var passages: [Passage]
    public var options: PassageOptions
    /// A 64-bit hash over the source files' names and bytes (in file-name order) and the options.
    public var sourceFingerprint: UInt64
    /// The JSONL file or folder the documents came from.
    public var source: URL

    /// Reads a JSONL file (one `{"id": string, "text": string}` object per non-blank line) or a
    /// folder of `.txt`/`.md` files (id = file name, e.g. `paris.txt`; sub-folders and hidden files
    /// are ignored), then cuts every document into passages, in file/line order.
    public static func load(from source: URL, options: PassageOptions = PassageOptions()) throws -> PassageCorpus {
        try options.validate()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory) else {
            throw PassageError.missing(source.path)
        }
        var hasher = FingerprintHasher()
        hasher.combine(UInt64(options.words)); hasher.combine(UInt64(options.overlap))
        var documents: [(id: String, text: String)] = []
        if isDirectory.boolValue {
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: source.path) } catch {
                throw PassageError.unreadable(source.path)
            }
            for name in names.sorted() where !name.hasPrefix(".") && (name.hasSuffix(".txt") || name.hasSuffix(".md")) {
                let file = source.appendingPathComponent(name)
                var isSubfolder: ObjCBool = false
                guard FileManager.default.fileExists(atPath: file.path, isDirectory: &isSubfolder), !isSubfolder.boolValue else { continue }
                let data = try readData(file)
                hasher.combine(bytes: Array(name.utf8)); hasher.combine(bytes: data)
                guard let text = String(validating: data, as: UTF8.self) else { throw PassageError.notUTF8(file.path) }
                documents.append((name, text))
            }
        } else {
            let data = try readData(source)
            hasher.combine(bytes: data)
            documents = try parseJSONL(data, path: source.path)
        }
        guard !documents.isEmpty else { throw PassageError.noDocuments(source.path) }
        var passages: [Passage] = []
        for document in documents {
            for (i, text) in split(document.text, options: options).enumerated() {
                passages.append(Passage(documentID: document.id, indexInDocument: i, text: text))
            }
        }
        return PassageCorpus(passages: passages, options: options, sourceFingerprint: hasher.value, source: source)
    }

    /// The passage texts of one document (see `PassageOptions` for the rule).
    public static func split(_ text: String, options: PassageOptions) -> [String] {
        let words = text.split(whereSeparator: { $0.isWhitespace })
        guard !words.isEmpty else { return [] }
        let stride = options.words - options.overlap
        var result: [String] = []
        var start = 0
        while true {
            let end = min(start + options.words, words.count)
            result.append(words[start..<end].joined(separator: " "))
            if end == words.count { break }
            start += stride
        }
        return result
    }

    private static func readData(_ url: URL) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw PassageError.unreadable(url.path) }
        return [UInt8](data)
    }

    private static func parseJSONL(_ data: [UInt8], path: String) throws -> [(id: String, text: String)] {
        var documents: [(id: String, text: String)] = []
        var seen = Set<String>()
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            let value: JSONValue
            do { value = try JSONValue.parse(Array(line)) } catch {
                throw PassageError.badLine(file: path, line: lineNumber, problem: "not valid JSON (\(error))")
            }
            guard value.members != nil else {
                throw PassageError.badLine(file: path, line: lineNumber, problem: "expected a JSON object with \"id\" and \"text\"")
            }
            guard let id = value["id"]?.string ?? value["id"]?.int.map(String.init) else {
                throw PassageError.badLine(file: path, line: lineNumber, problem: "\"id\" is missing or not a string")
            }
            guard let text = value["text"]?.string else {
                throw PassageError.badLine(file: path, line: lineNumber, problem: "\"text\" is missing or not a string")
            }
            guard seen.insert(id).inserted else { throw PassageError.duplicateID(file: path, line: lineNumber, id: id) }
            documents.append((id, text))
        }
        return documents
    }
}

/// A fast 64-bit non-cryptographic hash (8 bytes per step, multiply–xorshift mixing): it only has
/// to notice that documents changed, and must stay cheap on gigabytes of text.
struct FingerprintHasher {
    private(set) var value: UInt64 = 0x9E37_79B9_7F4A_7C15

    mutating func combine(_ word: UInt64) {
        var x = (value ^ word) &* 0xBF58_476D_1CE4_E5B9
        x ^= x >> 31
        value = (x &* 0x94D0_49BB_1331_11EB) ^ (x >> 29)
    }

    mutating func combine(bytes: [UInt8]) {
        combine(UInt64(bytes.count))
        bytes.withUnsafeBytes { raw in
            let whole = raw.count / 8
            for i in 0..<whole { combine(raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
            var tail: UInt64 = 0
            for i in (whole * 8)..<raw.count { tail = tail << 8 | UInt64(raw[i]) }
            combine(tail)
        }
    }
}
