import Foundation

/// Writes a checkpoint split into shards the way transformers' `save_pretrained` does:
/// `model-00001-of-0000N.safetensors` files plus `model.safetensors.index.json`, or a single
/// `model.safetensors` (and no index) when everything fits in one shard.
///
/// Tensors are assigned to shards in the order given (the state-dict order) with
/// huggingface_hub's rule: a tensor joins the current shard unless that would exceed
/// `maxShardSize`; a tensor larger than `maxShardSize` gets a shard of its own. Each shard is a
/// `SafetensorsWriter`; all are renamed into place by `finish()`, the index last, so a checkpoint
/// without its index (or with hidden `.partial` files) is one that did not finish.
public final class SafetensorsShardedWriter {
    public let directory: URL
    /// Shard file names in order.
    public let shardFileNames: [String]
    /// Sum of all tensors' byte sizes (the index's `total_size`).
    public let totalSize: Int

    private let writers: [SafetensorsWriter]
    private let shardOf: [String: Int]
    private let indexJSON: [UInt8]?
    private var finished = false

    /// - Parameters:
    ///   - tensors: every tensor, in the order shards should be filled.
    ///   - maxShardSize: the largest shard data size in bytes (transformers' `max_shard_size`).
    ///   - shardMetadata: `__metadata__` of every shard; transformers writes `{"format": "pt"}`.
    ///   - totalParameters: the index's `total_parameters`; by default the sum of element counts
    ///     (what transformers writes for models without tied weights).
    public init(directory: URL, tensors: [TensorInfo], maxShardSize: Int,
                shardMetadata: [String: String]? = ["format": "pt"], totalParameters: Int? = nil) throws {
        self.directory = directory
        guard maxShardSize > 0 else {
            throw SafetensorsError.invalidWriteRequest(file: directory.lastPathComponent,
                                                       reason: "the maximum shard size must be positive")
        }
        var shards: [[TensorInfo]] = []
        var current: [TensorInfo] = []
        var currentSize = 0
        var total = 0
        for tensor in tensors {
            guard let size = SafetensorsLayout.byteCount(tensor) else {
                throw SafetensorsError.invalidWriteRequest(file: directory.lastPathComponent,
                                                           reason: "tensor '\(tensor.name)' has an invalid shape \(tensor.shape)")
            }
            total += size
            if size > maxShardSize {
                shards.append([tensor])   // as huggingface_hub: own shard, current one stays open
                continue
            }
            if currentSize + size > maxShardSize {
                shards.append(current)
                current = []
                currentSize = 0
            }
            current.append(tensor)
            currentSize += size
        }
        if !current.isEmpty || shards.isEmpty { shards.append(current) }
        totalSize = total

        let names: [String]
        if shards.count == 1 {
            names = [SafetensorsCheckpoint.singleFileName]
        } else {
            func fiveDigits(_ n: Int) -> String {
                let s = String(n)
                return String(repeating: "0", count: max(0, 5 - s.count)) + s
            }
            names = (1...shards.count).map { "model-\(fiveDigits($0))-of-\(fiveDigits(shards.count)).safetensors" }
        }
        shardFileNames = names
        var shardOf: [String: Int] = [:]
        var writers: [SafetensorsWriter] = []
        for (i, shard) in shards.enumerated() {
            for tensor in shard {
                guard shardOf.updateValue(i, forKey: tensor.name) == nil else {
                    throw SafetensorsError.invalidWriteRequest(file: names[i], reason: "tensor '\(tensor.name)' is listed twice")
                }
            }
            writers.append(try SafetensorsWriter(url: directory.appendingPathComponent(names[i]), tensors: shard,
                                                 metadata: shardMetadata))
        }
        self.writers = writers
        self.shardOf = shardOf
        if shards.count == 1 {
            indexJSON = nil
        } else {
            let parameters = totalParameters ?? tensors.reduce(0) { $0 + $1.elementCount }
            let weightMap = shardOf.mapValues { names[$0] }
            indexJSON = SafetensorsIndexJSON.encode(totalParameters: parameters, totalSize: total, weightMap: weightMap)
        }
    }

    /// The shard file that holds `name`.
    public func shardFileName(of name: String) -> String? { shardOf[name].map { shardFileNames[$0] } }

    public func write(_ name: String, _ tensor: Tensor) throws { try writer(for: name).write(name, tensor) }

    public func write(_ name: String, scalars: UnsafeBufferPointer<Float>) throws {
        try writer(for: name).write(name, scalars: scalars)
    }

    public func writeRaw(_ name: String, bytes: UnsafeRawBufferPointer) throws {
        try writer(for: name).writeRaw(name, bytes: bytes)
    }

    /// Finishes every shard, then writes the index (if sharded) atomically.
    public func finish() throws {
        guard !finished else {
            throw SafetensorsError.invalidWriteRequest(file: directory.lastPathComponent, reason: "the writer is already finished")
        }
        for writer in writers { try writer.finish() }
        if let indexJSON {
            let output = try SafetensorsPartialFile(finalURL: directory.appendingPathComponent(SafetensorsCheckpoint.indexFileName))
            try indexJSON.withUnsafeBytes { try output.write($0, at: 0) }
            try output.commit(expectedSize: indexJSON.count)
        }
        finished = true
    }

    /// Abandons every shard not yet renamed into place.
    public func cancel() {
        for writer in writers { writer.cancel() }
    }

    private func writer(for name: String) throws -> SafetensorsWriter {
        guard let i = shardOf[name] else {
            throw SafetensorsError.invalidWriteRequest(file: directory.lastPathComponent, reason: "tensor '\(name)' was not declared")
        }
        return writers[i]
    }
}

/// The index file exactly as transformers writes it:
/// `json.dumps(index, indent=2, sort_keys=True) + "\n"` (so non-ASCII is \u-escaped).
enum SafetensorsIndexJSON {
    static func encode(totalParameters: Int, totalSize: Int, weightMap: [String: String]) -> [UInt8] {
        var out = "{\n  \"metadata\": {\n"
        out += "    \"total_parameters\": \(totalParameters),\n"
        out += "    \"total_size\": \(totalSize)\n"
        out += "  },\n  \"weight_map\": {"
        let keys = weightMap.keys.sorted { Array($0.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.unicodeScalars.map(\.value)) }
        if keys.isEmpty {
            out += "}\n"
        } else {
            out += "\n"
            out += keys.map { "    \(quoted($0)): \(quoted(weightMap[$0] ?? ""))" }.joined(separator: ",\n")
            out += "\n  }\n"
        }
        out += "}\n"
        return Array(out.utf8)
    }

    /// Python's json string encoding with ensure_ascii=True.
    static func quoted(_ s: String) -> String {
        var out = "\""
        func hex4(_ v: UInt32) -> String {
            let h = String(v, radix: 16)
            return "\\u" + String(repeating: "0", count: 4 - h.count) + h
        }
        for scalar in s.unicodeScalars {
            switch scalar.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x20...0x7E: out.unicodeScalars.append(scalar)
            case 0x10000...:
                let v = scalar.value - 0x10000
                out += hex4(0xD800 + (v >> 10)) + hex4(0xDC00 + (v & 0x3FF))
            default: out += hex4(scalar.value)
            }
        }
        return out + "\""
    }
}
