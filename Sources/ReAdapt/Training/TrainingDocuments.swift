import Foundation

/// One chat conversation and where it came from (for error messages).
public struct TrainingConversation: Sendable, Equatable {
    public var messages: [ChatMessage]
    public var file: String
    public var line: Int
    public init(messages: [ChatMessage], file: String, line: Int) {
        self.messages = messages; self.file = file; self.line = line
    }
}

/// The documents of a training run: either text documents (next-token prediction on everything)
/// or chat conversations (loss on assistant replies only) — never both.
public enum TrainingDocuments: Sendable, Equatable {
    case text([String])
    case chat([TrainingConversation])

    /// Reads `files` in the order given. A file whose name ends in `.jsonl` holds one JSON object
    /// per line — `{"text": "..."}` or `{"messages": [{"role": ..., "content": ...}, ...]}`;
    /// blank lines are skipped. Any other file (plain text, markdown) is one text document,
    /// taken byte for byte (UTF-8).
    public static func read(files: [URL]) throws -> TrainingDocuments {
        guard !files.isEmpty else { throw TrainingDataError.noFiles }
        var texts: [String] = []
        var chats: [TrainingConversation] = []
        for url in files {
            let data = try readData(url)
            let name = url.path
            guard url.pathExtension.lowercased() == "jsonl" else {
                guard let text = String(data: data, encoding: .utf8) else {
                    throw TrainingDataError.unreadable(file: name, reason: "it is not UTF-8 text")
                }
                guard text.contains(where: { !$0.isWhitespace }) else { throw TrainingDataError.empty(file: name) }
                if !chats.isEmpty { throw TrainingDataError.mixedObjectives(file: name, line: 1) }
                texts.append(text)
                continue
            }
            let before = texts.count + chats.count
            for (lineNumber, line) in lines(of: data) {
                switch try parseLine(line, file: name, line: lineNumber) {
                case .text(let text):
                    if !chats.isEmpty { throw TrainingDataError.mixedObjectives(file: name, line: lineNumber) }
                    texts.append(text)
                case .chat(let messages):
                    if !texts.isEmpty { throw TrainingDataError.mixedObjectives(file: name, line: lineNumber) }
                    chats.append(TrainingConversation(messages: messages, file: name, line: lineNumber))
                }
            }
            if texts.count + chats.count == before { throw TrainingDataError.empty(file: name) }
        }
        return chats.isEmpty ? .text(texts) : .chat(chats)
    }

    private enum Line { case text(String), chat([ChatMessage]) }

    private static func readData(_ url: URL) throws -> Data {
        do { return try Data(contentsOf: url) } catch {
            let exists = FileManager.default.fileExists(atPath: url.path)
            throw TrainingDataError.unreadable(file: url.path, reason: exists ? "it cannot be opened" : "it does not exist")
        }
    }

    /// Non-blank lines with 1-based line numbers; a trailing "\r" (CRLF files) is dropped.
    private static func lines(of data: Data) -> [(Int, ArraySlice<UInt8>)] {
        let bytes = [UInt8](data)
        var result: [(Int, ArraySlice<UInt8>)] = []
        var start = 0, number = 1
        func flush(_ end: Int) {
            var line = bytes[start..<end]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.contains(where: { !($0 == 32 || $0 == 9 || $0 == 13) }) { result.append((number, line)) }
        }
        for i in bytes.indices where bytes[i] == UInt8(ascii: "\n") {
            flush(i); start = i + 1; number += 1
        }
        if start < bytes.count { flush(bytes.count) }
        return result
    }

    private static func parseLine(_ line: ArraySlice<UInt8>, file: String, line number: Int) throws -> Line {
        let value: JSONValue
        do { value = try JSONValue.parse(Array(line)) } catch {
            throw TrainingDataError.badJSON(file: file, line: number, reason: "\(error)")
        }
        guard value.members != nil else {
            throw TrainingDataError.missingField(file: file, line: number, reason: "is \(value.kindDescription), not a JSON object")
        }
        if let messages = value["messages"] {
            return .chat(try parseMessages(messages, file: file, line: number))
        }
        guard let textValue = value["text"] else {
            throw TrainingDataError.missingField(file: file, line: number, reason: "has neither a \"text\" nor a \"messages\" field")
        }
        guard let text = textValue.string else {
            throw TrainingDataError.missingField(file: file, line: number, reason: "has a \"text\" field that is \(textValue.kindDescription), not a string")
        }
        return .text(text)
    }

    private static func parseMessages(_ value: JSONValue, file: String, line: Int) throws -> [ChatMessage] {
        guard let list = value.array, !list.isEmpty else {
            throw TrainingDataError.missingField(file: file, line: line, reason: "has a \"messages\" field that is not a non-empty array")
        }
        var messages: [ChatMessage] = []
        for (index, item) in list.enumerated() {
            guard let role = item["role"]?.string, let content = item["content"]?.string else {
                throw TrainingDataError.missingField(file: file, line: line,
                                                     reason: "has message \(index) without string \"role\" and \"content\" fields")
            }
            messages.append(ChatMessage(role: role, content: content))
        }
        guard messages.contains(where: { $0.role == "assistant" }) else {
            throw TrainingDataError.noAssistantMessage(file: file, line: line)
        }
        return messages
    }
}
