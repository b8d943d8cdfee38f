import Foundation

/// How `ModelMerger` writes its output.
public struct MergeOptions: Sendable {
    /// dtype of every floating-point tensor; nil keeps each base tensor's stored dtype.
    public var outputDType: DType?
    /// Largest shard in bytes; transformers 5's `save_pretrained` default is 50 GB.
    public var maxShardSize: Int
    /// Replace an existing output directory.
    public var replace: Bool
    /// Where tokenizer, chat template and generation_config come from; nil: the instruct model a
    /// delta's metadata records, if that directory exists, else the base.
    public var tokenizerFrom: URL?

    public init(outputDType: DType? = nil, maxShardSize: Int = 50_000_000_000, replace: Bool = false,
                tokenizerFrom: URL? = nil) {
        self.outputDType = outputDType
        self.maxShardSize = maxShardSize
        self.replace = replace
        self.tokenizerFrom = tokenizerFrom
    }
}

/// What a merge wrote (`readapt merge --json`).
public struct MergeSummary: Codable, Sendable {
    public struct Adapter: Codable, Sendable {
        public var path: String
        public var kind: String
        public var scale: Double
    }
    public var output: String
    public var base: String
    public var adapters: [Adapter]
    public var layerScales: Int
    public var tensors: Int
    /// Tensors some adapter changed.
    public var mergedTensors: Int
    public var bytes: Int
    public var shards: [String]
    public var vocabSize: Int?
    public var tokenizerFrom: String
    public var copiedFiles: [String]
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case output, base, adapters, tensors, bytes, shards, seconds
        case layerScales = "layer_scales"
        case mergedTensors = "merged_tensors"
        case vocabSize = "vocab_size"
        case tokenizerFrom = "tokenizer_from"
        case copiedFiles = "copied_files"
    }
}

/// Writes base + Σ scale·adapter as a Hugging Face checkpoint, one tensor at a time.
///
/// Everything is checked before anything is written. Then, in the base's storage order, each
/// tensor an adapter changes is loaded as F32, merged by `AdapterStack.merged` (finite check
/// included) and converted once to the output dtype; every other tensor is copied as stored bytes
/// (or converted when `outputDType` differs). Pages of the base are released after each tensor,
/// so memory stays at a few tensors whatever the model size. The output goes to a staging
/// directory renamed into place at the end, with config.json (vocab_size, dtype updated) and the
/// tokenizer files of `tokenizerFrom`.
public enum ModelMerger {
    /// Files copied from the tokenizer source when present.
    public static let tokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                        "chat_template.jinja", "generation_config.json", "tokenizer.model",
                                        "vocab.json", "merges.txt", "added_tokens.json"]

    @discardableResult
    public static func merge(base: URL, stack: AdapterStack, output: URL, options: MergeOptions = MergeOptions(),
                             progress: ((String) -> Void)? = nil) throws -> MergeSummary {
        let start = ContinuousClock.now
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: base.path, isDirectory: &isDirectory) else {
            throw ModelBundleError.notFound(path: base.path)
        }
        guard isDirectory.boolValue else {
            throw MergeError.unsupportedBase(path: base.path, reason: "merge needs a Hugging Face model directory (convert a .gguf file with `readapt convert` first)")
        }
        let configFile = base.appendingPathComponent("config.json")
        guard let configData = FileManager.default.contents(atPath: configFile.path) else {
            throw ModelConfigError.unreadable(file: configFile)
        }
        let checkpoint = try SafetensorsCheckpoint(directory: base)
        try stack.validate(against: checkpoint, baseConfigFile: configFile)
        if let dtype = options.outputDType, ![.f32, .f16, .bf16].contains(dtype) {
            throw MergeError.unsupportedBase(path: base.path, reason: "the output dtype must be F32, F16 or BF16, not \(dtype.rawValue)")
        }
        let tokenizerSource = options.tokenizerFrom ?? defaultTokenizerSource(stack: stack, base: base)
        let config = try mergedConfig(configData, file: configFile, vocabSize: stack.mergedVocabSize,
                                      dtype: options.outputDType)

        // Storage order: shards in order, tensors by offset (what the base's writer chose).
        var order: [String] = []
        for file in checkpoint.files {
            for entry in file.entries where checkpoint.file(containing: entry.info.name) === file {
                order.append(entry.info.name)
            }
        }
        let floats: Set<DType> = [.f32, .f16, .bf16]
        let outputs: [TensorInfo] = order.map { name in
            let info = checkpoint.info(name)!
            let dtype = floats.contains(info.dtype) ? options.outputDType ?? info.dtype : info.dtype
            return TensorInfo(name: name, dtype: dtype, shape: stack.mergedShape(of: name, baseShape: info.shape))
        }

        let staging = try StagingDirectory(output: output, replace: options.replace)
        let writer = try SafetensorsShardedWriter(directory: staging.url, tensors: outputs, maxShardSize: options.maxShardSize)
        // Tensors changed only by dense deltas are merged blockwise into reusable output buffers.
        let streamed = Dictionary(uniqueKeysWithValues: order.compactMap { name in
            BlockwiseMerge.sources(for: name, stack: stack, baseInfo: checkpoint.info(name)!).map { (name, $0) }
        })
        let bufferSize = outputs.filter { streamed[$0.name] != nil }.map { $0.elementCount * $0.dtype.size }.max() ?? 0
        let tensorWriter = BackgroundTensorWriter(writer: writer, bufferSize: bufferSize)
        var merged = 0, done = 0, lastReport = start
        for (name, out) in zip(order, outputs) {
            let info = checkpoint.info(name)!
            if let sources = streamed[name] {
                let names = stack.entries.filter { $0.adapter.targetTensorNames.contains(name) }.map(\.adapter.displayName)
                try tensorWriter.writeBuffered(name, byteCount: out.elementCount * out.dtype.size) { bytes in
                    try BlockwiseMerge.merge(name, base: checkpoint, sources: sources, outputDType: out.dtype, into: bytes,
                                             adapterNames: names)
                }
                merged += 1
            } else if stack.targetTensorNames.contains(name) {
                try tensorWriter.write(name, stack.merged(name, base: checkpoint.load(name)))
                merged += 1
            } else if info.dtype == out.dtype {
                try checkpoint.withRawBytes(name) { bytes, _ in try tensorWriter.writeNow(name, bytes: bytes) }
            } else {
                try tensorWriter.write(name, checkpoint.load(name))
            }
            checkpoint.releasePages(name)
            done += 1
            if let progress, ContinuousClock.now - lastReport > .seconds(2) || done == order.count {
                lastReport = ContinuousClock.now
                progress("merged \(done)/\(order.count) tensors (\(merged) changed by adapters)")
            }
        }
        try tensorWriter.finish()

        try staging.write(config, to: "config.json")
        var copied: [String] = []
        for name in tokenizerFiles {
            let source = tokenizerSource.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: source.path) else { continue }
            try staging.copy(source, as: name)
            copied.append(name)
        }
        try staging.commit()
        let adapters = stack.entries.map {
            MergeSummary.Adapter(path: $0.adapter.displayName, kind: AdapterLoader.kind(of: $0.adapter), scale: $0.scale)
        }
        return MergeSummary(output: output.path, base: base.path, adapters: adapters, layerScales: stack.layerScale.rules.count,
                            tensors: order.count, mergedTensors: merged, bytes: writer.totalSize, shards: writer.shardFileNames,
                            vocabSize: stack.mergedVocabSize, tokenizerFrom: tokenizerSource.path, copiedFiles: copied,
                            seconds: (ContinuousClock.now - start).seconds)
    }

    /// The instruct model recorded by the first delta adapter, if that directory exists; else the base.
    static func defaultTokenizerSource(stack: AdapterStack, base: URL) -> URL {
        for entry in stack.entries {
            guard let delta = entry.adapter as? DeltaCheckpointAdapter else { continue }
            let path = delta.metadata.instruct.path
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                return URL(fileURLWithPath: path)
            }
        }
        return base
    }

    /// The base's config.json with `vocab_size` and `dtype`/`torch_dtype` updated; other members
    /// keep their order and text.
    static func mergedConfig(_ data: Data, file: URL, vocabSize: Int?, dtype: DType?) throws -> Data {
        guard vocabSize != nil || dtype != nil else { return data }
        let json: JSONValue
        do { json = try JSONValue.parse(data) } catch let error as JSONParseError {
            throw ModelConfigError.invalidJSON(file: file, detail: error.description)
        }
        guard case .object(var members) = json else {
            throw ModelConfigError.invalidJSON(file: file, detail: "the top level is not an object")
        }
        func set(_ key: String, _ value: JSONValue, addIfMissing: Bool) {
            if let i = members.firstIndex(where: { $0.key == key }) { members[i].value = value }
            else if addIfMissing { members.append((key, value)) }
        }
        if let vocabSize { set("vocab_size", .number(String(vocabSize)), addIfMissing: true) }
        if let dtype {
            let torchName: String = dtype == .f32 ? "float32" : dtype == .f16 ? "float16" : "bfloat16"
            let hasTorchDType = members.contains { $0.key == "torch_dtype" }
            set("dtype", .string(torchName), addIfMissing: !hasTorchDType)
            set("torch_dtype", .string(torchName), addIfMissing: false)
        }
        var out = ""
        writeJSON(.object(members), indent: 0, into: &out)
        return Data((out + "\n").utf8)
    }

    /// JSON with two-space indentation, as `json.dumps(indent=2)` lays it out.
    static func writeJSON(_ value: JSONValue, indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent + 2), close = String(repeating: " ", count: indent)
        switch value {
        case .object(let members):
            guard !members.isEmpty else { out += "{}"; return }
            out += "{\n"
            for (i, member) in members.enumerated() {
                var key: [UInt8] = []
                JSONValue.appendQuoted(member.key, to: &key)
                out += pad + String(decoding: key, as: UTF8.self) + ": "
                writeJSON(member.value, indent: indent + 2, into: &out)
                out += i + 1 < members.count ? ",\n" : "\n"
            }
            out += close + "}"
        case .array(let items):
            guard !items.isEmpty else { out += "[]"; return }
            out += "[\n"
            for (i, item) in items.enumerated() {
                out += pad
                writeJSON(item, indent: indent + 2, into: &out)
                out += i + 1 < items.count ? ",\n" : "\n"
            }
            out += close + "]"
        case .string(let s):
            var bytes: [UInt8] = []
            JSONValue.appendQuoted(s, to: &bytes)
            out += String(decoding: bytes, as: UTF8.self)
        case .number(let text): out += text
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        }
    }
}
