import Foundation

/// The fields of a PEFT `adapter_config.json` that decide a LoRA/DoRA adapter's merged weights.
///
/// Ranks and alphas follow PEFT 0.21's `LoraModel._create_and_replace`: for module `M` (the name
/// relative to the transformers model, e.g. `model.layers.1.self_attn.q_proj`), the rank is that
/// of the FIRST key of `rank_pattern` (in file order) for which Python's
/// `re.match(r"(.*\.)?(KEY)$", M)` succeeds, else `r`; the same for `alpha_pattern` / `lora_alpha`.
/// PEFT writes the file with sorted keys, so file order is sorted order for saved adapters.
public struct PEFTAdapterConfig: Sendable {
    public var peftType: String
    public var r: Int
    public var loraAlpha: Double
    public var useRSLoRA: Bool
    public var useDoRA: Bool
    /// The base weight is stored [in, out] (GPT-2's Conv1D), so the delta is (B·A)ᵀ.
    public var fanInFanOut: Bool
    /// (regex key, rank) in file order.
    public var rankPattern: [(key: String, rank: Int)]
    /// (regex key, alpha) in file order.
    public var alphaPattern: [(key: String, alpha: Double)]
    /// "none", "all" or "lora_only": which base biases were trained (they are saved whole).
    public var bias: String
    /// lora_B has a bias, added to the base bias times the scale.
    public var loraBias: Bool
    public var modulesToSave: [String]
    public var baseModelNameOrPath: String?
    /// The file, for messages.
    public let fileName: String

    /// Options that change the merged weights in ways this reader does not implement: a config
    /// that sets any of them (to something other than null/false/empty) is refused.
    static let unsupportedOptions = ["use_qalora", "layer_replication", "target_parameters",
                                     "trainable_token_indices", "alora_invocation_tokens", "arrow_config",
                                     "velora_config", "monteclora_config", "kasa_config", "use_bdlora"]

    /// Reads `url` (an adapter_config.json). `displayPath` names the adapter in errors.
    public static func load(_ url: URL, displayPath: String) throws -> PEFTAdapterConfig {
        let file = url.path
        guard let data = FileManager.default.contents(atPath: file) else {
            throw AdapterError.invalidConfig(file: file, reason: "cannot be read")
        }
        let json: JSONValue
        do { json = try JSONValue.parse(data) } catch let error as JSONParseError {
            throw AdapterError.invalidConfig(file: file, reason: "not valid JSON (\(error.description))")
        }
        return try PEFTAdapterConfig(json: json, file: file, displayPath: displayPath)
    }

    init(json: JSONValue, file: String, displayPath: String) throws {
        guard case .object = json else { throw AdapterError.invalidConfig(file: file, reason: "the top level is not a JSON object") }
        fileName = file
        func field(_ key: String) -> JSONValue? {
            guard let value = json[key], !value.isNull else { return nil }
            return value
        }
        func bool(_ key: String, _ fallback: Bool) throws -> Bool {
            guard let value = field(key) else { return fallback }
            guard let b = value.bool else { throw AdapterError.invalidConfig(file: file, reason: "\"\(key)\" is \(value.kindDescription), not true or false") }
            return b
        }
        func positiveInt(_ value: JSONValue, _ what: String) throws -> Int {
            guard let n = value.int ?? value.double.flatMap({ $0 == $0.rounded() && abs($0) < 1e9 ? Int($0) : nil }), n > 0 else {
                throw AdapterError.invalidConfig(file: file, reason: "\(what) must be a positive integer, not \(value.kindDescription)")
            }
            return n
        }
        func finite(_ value: JSONValue, _ what: String) throws -> Double {
            guard let d = value.double, d.isFinite else {
                throw AdapterError.invalidConfig(file: file, reason: "\(what) must be a number, not \(value.kindDescription)")
            }
            return d
        }

        guard let type = field("peft_type")?.string else {
            throw AdapterError.invalidConfig(file: file, reason: "there is no \"peft_type\" string, so this is not a PEFT adapter config")
        }
        guard type.uppercased() == "LORA" else { throw AdapterError.unsupportedPEFTType(path: displayPath, type: type) }
        peftType = type
        for option in Self.unsupportedOptions {
            guard let value = field(option) else { continue }
            switch value {
            case .bool(false): continue
            case .array(let items) where items.isEmpty: continue
            case .object(let members) where members.isEmpty: continue
            default: throw AdapterError.unsupportedOption(file: file, option: option)
            }
        }
        if let text = field("init_lora_weights")?.string,
           ["pissa", "olora", "corda", "lora_ga"].contains(where: { text.lowercased().hasPrefix($0) }) {
            // These initialisations subtract the adapter's start from the base; an unconverted
            // adapter only merges correctly into that modified base, which readapt cannot know.
            throw AdapterError.unsupportedOption(file: file, option: "init_lora_weights=\"\(text)\" (convert it to a plain LoRA with PEFT first)")
        }
        r = try field("r").map { try positiveInt($0, "\"r\"") } ?? 8
        loraAlpha = try field("lora_alpha").map { try finite($0, "\"lora_alpha\"") } ?? 8
        useRSLoRA = try bool("use_rslora", false)
        useDoRA = try bool("use_dora", false)
        fanInFanOut = try bool("fan_in_fan_out", false)
        loraBias = try bool("lora_bias", false)
        bias = field("bias")?.string ?? "none"
        guard ["none", "all", "lora_only"].contains(bias) else {
            throw AdapterError.invalidConfig(file: file, reason: "\"bias\" must be \"none\", \"all\" or \"lora_only\", not \"\(bias)\"")
        }
        var ranks: [(String, Int)] = []
        if let value = field("rank_pattern") {
            guard let members = value.members else { throw AdapterError.invalidConfig(file: file, reason: "\"rank_pattern\" is not an object") }
            for (key, v) in members { ranks.append((key, try positiveInt(v, "rank_pattern[\"\(key)\"]"))) }
        }
        rankPattern = ranks
        var alphas: [(String, Double)] = []
        if let value = field("alpha_pattern") {
            guard let members = value.members else { throw AdapterError.invalidConfig(file: file, reason: "\"alpha_pattern\" is not an object") }
            for (key, v) in members { alphas.append((key, try finite(v, "alpha_pattern[\"\(key)\"]"))) }
        }
        alphaPattern = alphas
        switch field("modules_to_save") {
        case nil: modulesToSave = []
        case .string(let one)?: modulesToSave = [one]
        case .array(let items)?: modulesToSave = items.compactMap(\.string)
        case let other?: throw AdapterError.invalidConfig(file: file, reason: "\"modules_to_save\" is \(other.kindDescription)")
        }
        baseModelNameOrPath = field("base_model_name_or_path")?.string
        // Fail now, not mid-merge, on a key PEFT itself could not compile.
        for key in ranks.map(\.0) + alphas.map(\.0) { _ = try Self.patternRegex(key, file: file) }
    }

    /// The rank PEFT gives `module`.
    public func rank(for module: String) throws -> Int {
        guard let key = try Self.firstMatchingKey(rankPattern.map(\.key), module: module, file: fileName) else { return r }
        return rankPattern.first { $0.key == key }!.rank
    }

    /// The lora_alpha PEFT gives `module`.
    public func alpha(for module: String) throws -> Double {
        guard let key = try Self.firstMatchingKey(alphaPattern.map(\.key), module: module, file: fileName) else { return loraAlpha }
        return alphaPattern.first { $0.key == key }!.alpha
    }

    /// PEFT's `scaling`: alpha / r, or alpha / √r with rsLoRA.
    public func scale(for module: String) throws -> Double {
        let rank = Double(try rank(for: module))
        return try alpha(for: module) / (useRSLoRA ? rank.squareRoot() : rank)
    }

    /// `peft.utils.other.get_pattern_key`: the first key `K` (in order) with
    /// `re.match(rf"(.*\.)?({K})$", module)`, or nil.
    public static func firstMatchingKey(_ keys: [String], module: String, file: String = "adapter_config.json") throws -> String? {
        for key in keys {
            let regex = try patternRegex(key, file: file)
            let range = NSRange(module.startIndex..., in: module)
            if regex.firstMatch(in: module, options: [.anchored], range: range) != nil { return key }
        }
        return nil
    }

    /// Compiled `(.*\.)?(KEY)$`. ICU and Python's `re` agree on the syntax PEFT patterns use
    /// (classes, alternation, quantifiers, escapes); `.anchored` plays the part of `re.match`.
    static func patternRegex(_ key: String, file: String) throws -> NSRegularExpression {
        do {
            return try NSRegularExpression(pattern: "(.*\\.)?(\(key))$")
        } catch {
            throw AdapterError.invalidConfig(file: file, reason: "the pattern key \"\(key)\" is not a valid regular expression")
        }
    }
}
