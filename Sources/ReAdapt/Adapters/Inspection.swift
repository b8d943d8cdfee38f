import Foundation

/// What `readapt inspect` found at a path: a model, a delta checkpoint, a LoRE adapter or a PEFT
/// adapter, with its tensors, dtypes, parameter counts and (adapters) ranks. Only headers are read.
public struct Inspection: Codable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case model, gguf, delta, lore, peft
    }

    public struct TensorEntry: Codable, Equatable, Sendable {
        public var name: String
        public var dtype: String
        public var shape: [Int]
        public var group: TensorGroup
    }

    public struct GroupCount: Codable, Equatable, Sendable {
        public var tensors: Int
        public var parameters: Int
    }

    /// A LoRA module: its rank and its layer.
    public struct AdapterModule: Codable, Equatable, Sendable {
        public var module: String
        public var layer: Int?
        public var rank: Int
        /// A DoRA magnitude vector is present.
        public var magnitude: Bool
    }

    public var path: String
    public var kind: Kind
    public var tensors: [TensorEntry]
    /// Parameters per stored dtype.
    public var dtypes: [String: Int]
    public var parameters: Int
    public var groups: [String: GroupCount]
    /// Delta checkpoints and LoRE adapters: their readapt_delta.json.
    public var metadata: DeltaMetadata?
    /// PEFT and LoRE adapters: the LoRA modules and selected adapter_config.json fields.
    public var modules: [AdapterModule]?
    public var adapterConfig: [String: String]?
    /// Dense deltas, unless skipped: the spectra, figures' data and tau table.
    public var spectrum: SpectrumAnalysis?

    enum CodingKeys: String, CodingKey {
        case path, kind, tensors, dtypes, parameters, groups, metadata, modules, spectrum
        case adapterConfig = "adapter_config"
    }

    /// Reads what is at `path` (headers only).
    public init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw InspectionError.notFound(path: path)
        }
        let fm = FileManager.default
        func has(_ name: String) -> Bool { fm.fileExists(atPath: url.appendingPathComponent(name).path) }
        var entries: [(name: String, dtype: String, shape: [Int])] = []
        if !isDirectory.boolValue {
            guard url.pathExtension.lowercased() == "gguf" else { throw InspectionError.unknown(path: path) }
            kind = .gguf
            let file = try GGUFFile(url: url)
            entries = file.tensors.map { (GGUFCheckpoint.huggingFaceName($0.name) ?? $0.name, $0.type.name, $0.shape) }
        } else if has(DeltaMetadata.fileName) {
            let metaURL = url.appendingPathComponent(DeltaMetadata.fileName)
            let meta: DeltaMetadata
            do { meta = try JSONDecoder().decode(DeltaMetadata.self, from: Data(contentsOf: metaURL)) } catch {
                throw InspectionError.badFile(path: metaURL.path, reason: "it is not a readapt delta metadata file")
            }
            metadata = meta
            kind = meta.kind == .dense ? .delta : .lore
            if meta.kind == .dense {
                entries = try Self.safetensorsEntries(SafetensorsCheckpoint(directory: url))
            } else {
                entries = try Self.safetensorsEntries(SafetensorsFile(url: url.appendingPathComponent(LoREExtraction.adapterWeightsFileName)))
                let companion = url.appendingPathComponent(LoREExtraction.companionFileName)
                if fm.fileExists(atPath: companion.path) { entries += try Self.safetensorsEntries(SafetensorsFile(url: companion)) }
            }
        } else if has(LoREExtraction.adapterConfigFileName) {
            kind = .peft
            let weights = url.appendingPathComponent(LoREExtraction.adapterWeightsFileName)
            guard fm.fileExists(atPath: weights.path) else {
                throw InspectionError.badFile(path: weights.path, reason: "the adapter has no weights file")
            }
            entries = try Self.safetensorsEntries(SafetensorsFile(url: weights))
        } else if has("config.json") {
            kind = .model
            entries = try Self.safetensorsEntries(SafetensorsCheckpoint(directory: url))
        } else {
            throw InspectionError.unknown(path: path)
        }
        tensors = entries.map { TensorEntry(name: $0.name, dtype: $0.dtype, shape: $0.shape,
                                            group: TensorGroup.classify(name: $0.name, shape: $0.shape)) }
        var dtypes: [String: Int] = [:], groups: [String: GroupCount] = [:]
        for t in tensors {
            let n = t.shape.reduce(1, *)
            dtypes[t.dtype, default: 0] += n
            groups[t.group.rawValue, default: GroupCount(tensors: 0, parameters: 0)].tensors += 1
            groups[t.group.rawValue]?.parameters += n
        }
        self.dtypes = dtypes
        self.groups = groups
        parameters = dtypes.values.reduce(0, +)
        if kind == .peft || kind == .lore {
            modules = Self.loraModules(tensors)
            adapterConfig = try Self.adapterConfigSummary(url.appendingPathComponent(LoREExtraction.adapterConfigFileName))
        }
    }

    static func safetensorsEntries(_ source: TensorSource) -> [(name: String, dtype: String, shape: [Int])] {
        source.tensorNames.compactMap { name in source.info(name).map { (name, $0.dtype.rawValue, $0.shape) } }
    }

    /// Modules with `lora_A.weight` (r × in) or `lora_embedding_A` (r × vocab), by PEFT key.
    static func loraModules(_ tensors: [TensorEntry]) -> [AdapterModule] {
        let names = Set(tensors.map(\.name))
        var modules: [AdapterModule] = []
        for t in tensors {
            let module: String
            if t.name.hasSuffix(".lora_A.weight") { module = String(t.name.dropLast(".lora_A.weight".count)) }
            else if t.name.hasSuffix(".lora_embedding_A") { module = String(t.name.dropLast(".lora_embedding_A".count)) }
            else { continue }
            let short = module.hasPrefix("base_model.model.") ? String(module.dropFirst("base_model.model.".count)) : module
            let parts = short.split(separator: ".").map(String.init)
            let layer = parts.firstIndex(of: "layers").flatMap { $0 + 1 < parts.count ? Int(parts[$0 + 1]) : nil }
            modules.append(AdapterModule(module: short, layer: layer, rank: t.shape.first ?? 0,
                                         magnitude: names.contains(module + ".lora_magnitude_vector")))
        }
        return modules.sorted { ($0.layer ?? -1, $0.module) < ($1.layer ?? -1, $1.module) }
    }

    /// The adapter_config.json fields a reader needs, as compact JSON text.
    static func adapterConfigSummary(_ url: URL) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: url.path),
              let json = try? JSONValue.parse(data, rejectDuplicateKeys: false), json.members != nil else {
            throw InspectionError.badFile(path: url.path, reason: "it is not a JSON object")
        }
        var summary: [String: String] = [:]
        for key in ["peft_type", "r", "lora_alpha", "use_rslora", "use_dora", "target_modules", "rank_pattern",
                    "alpha_pattern", "base_model_name_or_path", "modules_to_save"] {
            guard let value = json[key], !value.isNull else { continue }
            summary[key] = compact(value)
        }
        return summary
    }

    static func compact(_ value: JSONValue) -> String {
        switch value {
        case .object(let members):
            return "{" + members.map { "\"\($0.key)\": \(compact($0.value))" }.joined(separator: ", ") + "}"
        case .array(let items): return "[" + items.map(compact).joined(separator: ", ") + "]"
        case .string(let s): return s
        case .number(let text): return text
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        }
    }

    /// Adds the spectrum analysis of a dense delta's linear matrices (runs an SVD per matrix).
    public mutating func analyzeSpectra(taus: [Double], progress: ((Int, Int, String) -> Void)? = nil) throws {
        guard kind == .delta else { return }
        let source = try SafetensorsCheckpoint(directory: URL(fileURLWithPath: path))
        let spectra = try SpectrumAnalysis.spectra(of: source, names: source.tensorNames, progress: progress)
        spectrum = SpectrumAnalysis(matrices: spectra, taus: taus)
    }
}

public enum InspectionError: Error, CustomStringConvertible, Equatable {
    case notFound(path: String)
    case unknown(path: String)
    case badFile(path: String, reason: String)

    public var description: String {
        switch self {
        case .notFound(let path):
            return "\(path) does not exist."
        case .unknown(let path):
            return "\(path) is not a model directory, .gguf file, delta checkpoint, LoRE adapter or PEFT adapter."
        case let .badFile(path, reason):
            return "\(path) cannot be inspected: \(reason)."
        }
    }
}
