import Foundation

/// One turn of a conversation, as the `{"role": ..., "content": ...}` dicts transformers takes.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) { self.role = role; self.content = content }
}

public enum ChatTemplateError: Error, CustomStringConvertible {
    case unreadable(file: String, reason: String)
    case noTemplate(file: String)
    case unknownTemplateName(String, available: [String], file: String)
    case badTemplate(file: String, JinjaError)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): return "Cannot read chat template file \(file): \(reason)."
        case let .noTemplate(file): return "\(file) has no chat template (no 'chat_template' entry and no chat_template.jinja)."
        case let .unknownTemplateName(name, available, file):
            return "\(file) has no chat template named '\(name)' (it has: \(available.joined(separator: ", ")))."
        case let .badTemplate(file, error): return "The chat template of \(file) is invalid: \(error.description)"
        }
    }
}

/// A model's chat template, rendered as transformers'
/// `apply_chat_template(messages, tokenize=False, add_generation_prompt=...)` does.
/// Errors the template raises itself (`raise_exception`) come out as `JinjaError.raised(message)`.
public struct ChatTemplate {
    public let source: String
    /// Special tokens passed to the template by name (`bos_token`, `eos_token`, ...), as
    /// transformers passes its `special_tokens_map`.
    public var specialTokens: [String: String]
    private let nodes: [Node]

    public init(source: String, specialTokens: [String: String] = [:]) throws {
        self.source = source
        self.specialTokens = specialTokens
        self.nodes = try JinjaParser.parse(source)
    }

    /// Loads from a model directory: `chat_template.jinja` when present (transformers prefers it),
    /// else `tokenizer_config.json`'s `chat_template`; special tokens from tokenizer_config.json.
    public init(directory: URL, name: String? = nil) throws {
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        let jinjaURL = directory.appendingPathComponent("chat_template.jinja")
        let config = FileManager.default.fileExists(atPath: configURL.path) ? try Self.readJSON(configURL) : nil
        let tokens = config.map(Self.specialTokens(in:)) ?? [:]
        if name == nil, FileManager.default.fileExists(atPath: jinjaURL.path) {
            guard let data = FileManager.default.contents(atPath: jinjaURL.path),
                  let text = String(data: data, encoding: .utf8) else {
                throw ChatTemplateError.unreadable(file: jinjaURL.path, reason: "it is missing or not UTF-8")
            }
            try self.init(source: text, specialTokens: tokens, file: jinjaURL.path)
            return
        }
        guard let config else { throw ChatTemplateError.noTemplate(file: configURL.path) }
        try self.init(source: try Self.templateSource(config, name: name, file: configURL.path), specialTokens: tokens,
                      file: configURL.path)
    }

    /// Loads from a tokenizer_config.json file; `name` picks one of a list of named templates
    /// (default: the one named "default").
    public init(tokenizerConfig url: URL, name: String? = nil) throws {
        let config = try Self.readJSON(url)
        try self.init(source: try Self.templateSource(config, name: name, file: url.path),
                      specialTokens: Self.specialTokens(in: config), file: url.path)
    }

    /// Loads from tokenizer_config.json bytes (e.g. rebuilt from a GGUF file); `file` names the
    /// origin in errors.
    public init(tokenizerConfigData data: Data, file: String, name: String? = nil) throws {
        let config: JSONValue
        do { config = try JSONValue.parse(data) } catch {
            throw ChatTemplateError.unreadable(file: file, reason: "it is not valid JSON (\(error))")
        }
        try self.init(source: try Self.templateSource(config, name: name, file: file),
                      specialTokens: Self.specialTokens(in: config), file: file)
    }

    private init(source: String, specialTokens: [String: String], file: String) throws {
        do { try self.init(source: source, specialTokens: specialTokens) } catch let error as JinjaError {
            throw ChatTemplateError.badTemplate(file: file, error)
        }
    }

    /// Renders the conversation. `extraContext` adds variables (e.g. `date_string`, `tools`).
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool,
                       extraContext: [String: JinjaValue] = [:]) throws -> String {
        try render(messages: messages.map { .dict([("role", .string($0.role)), ("content", .string($0.content))]) },
                   addGenerationPrompt: addGenerationPrompt, extraContext: extraContext)
    }

    /// Renders messages given as arbitrary values (e.g. with tool calls).
    public func render(messages: [JinjaValue], addGenerationPrompt: Bool,
                       extraContext: [String: JinjaValue] = [:]) throws -> String {
        var globals = Self.builtins()
        for (k, v) in specialTokens { globals[k] = .string(v) }
        globals["messages"] = .list(messages)
        globals["tools"] = JinjaValue.none
        globals["documents"] = JinjaValue.none
        globals["add_generation_prompt"] = .bool(addGenerationPrompt)
        for (k, v) in extraContext { globals[k] = v }
        return try JinjaInterpreter(globals: globals).render(nodes)
    }

    static func builtins() -> [String: JinjaValue] {
        [
            "raise_exception": .function(JinjaFunction { args, _ in throw JinjaError.raised(args.first?.text ?? "") }),
            "namespace": .function(JinjaFunction { args, kwargs in
                var attributes: [(key: String, value: JinjaValue)] = []
                if case .dict(let d)? = args.first { attributes = d }
                for (k, v) in kwargs {
                    if let i = attributes.firstIndex(where: { $0.key == k }) { attributes[i].value = v } else { attributes.append((k, v)) }
                }
                return .namespace(JinjaNamespace(attributes))
            }),
            "dict": .function(JinjaFunction { args, kwargs in
                var pairs: [(key: String, value: JinjaValue)] = []
                if case .dict(let d)? = args.first { pairs = d }
                for (k, v) in kwargs { pairs.removeAll { $0.key == k }; pairs.append((k, v)) }
                return .dict(pairs)
            }),
            "range": .function(JinjaFunction { args, _ in
                let bounds = args.map(\.intValue)
                let (start, stop, step) = bounds.count == 1 ? (0, bounds[0], 1)
                    : (bounds.first ?? 0, bounds.count > 1 ? bounds[1] : 0, bounds.count > 2 ? bounds[2] : 1)
                guard step != 0 else { throw JinjaError.raised("range() arg 3 must not be zero") }
                return .list(Array(stride(from: start, to: stop, by: step)).map { .int($0) })
            }),
            "strftime_now": .function(JinjaFunction { args, _ in
                .string(Self.strftime(args.first?.text ?? "", date: Date(), timeZone: .current))
            }),
        ]
    }

    /// Python's `date.strftime(format)` for the directives chat templates use, in the C locale.
    static func strftime(_ format: String, date: Date, timeZone: TimeZone) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = timeZone
        formatter.dateFormat = dateFormat(fromStrftime: format)
        return formatter.string(from: date)
    }

    /// Translates the strftime directives templates use (%d %b %Y %B %m %H %M %S %y %A %a) for DateFormatter.
    static func dateFormat(fromStrftime format: String) -> String {
        let map: [Character: String] = ["d": "dd", "b": "MMM", "B": "MMMM", "Y": "yyyy", "y": "yy", "m": "MM",
                                         "H": "HH", "M": "mm", "S": "ss", "A": "EEEE", "a": "EEE", "%": "%"]
        var out = "", percent = false
        for c in format {
            if percent { out += map[c] ?? "'%\(c)'"; percent = false }
            else if c == "%" { percent = true }
            else if c.isLetter || c == "'" { out += c == "'" ? "''" : "'\(c)'" }
            else { out.append(c) }
        }
        return out
    }

    private static func readJSON(_ url: URL) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ChatTemplateError.unreadable(file: url.path, reason: "the file is missing or unreadable")
        }
        do { return try JSONValue.parse(data) } catch {
            throw ChatTemplateError.unreadable(file: url.path, reason: "it is not valid JSON (\(error))")
        }
    }

    private static func templateSource(_ config: JSONValue, name: String?, file: String) throws -> String {
        switch config["chat_template"] {
        case .string(let s)?:
            if let name, name != "default" { throw ChatTemplateError.unknownTemplateName(name, available: ["default"], file: file) }
            return s
        case .array(let entries)?:
            let named = entries.compactMap { e -> (String, String)? in
                guard let n = e["name"]?.string, let t = e["template"]?.string else { return nil }
                return (n, t)
            }
            let wanted = name ?? "default"
            guard let match = named.first(where: { $0.0 == wanted }) else {
                throw ChatTemplateError.unknownTemplateName(wanted, available: named.map(\.0), file: file)
            }
            return match.1
        default:
            throw ChatTemplateError.noTemplate(file: file)
        }
    }

    /// bos/eos/unk/pad tokens, written either as strings or as AddedToken dicts with "content".
    static func specialTokens(in config: JSONValue) -> [String: String] {
        var tokens: [String: String] = [:]
        for key in ["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"] {
            if let s = config[key]?.string { tokens[key] = s }
            else if let s = config[key]?["content"]?.string { tokens[key] = s }
        }
        return tokens
    }
}
