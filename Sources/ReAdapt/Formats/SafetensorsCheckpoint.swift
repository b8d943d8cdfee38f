import Foundation

/// A Hugging Face checkpoint stored as safetensors: one file, or shards listed by
/// `model.safetensors.index.json`. Every file is validated on open; tensors load lazily.
public final class SafetensorsCheckpoint: TensorSource, @unchecked Sendable {
    public static let singleFileName = "model.safetensors"
    public static let indexFileName = "model.safetensors.index.json"

    /// The opened files (one, or the shards sorted by file name).
    public let files: [SafetensorsFile]
    /// How errors name this checkpoint: the single file's name or the index file's name.
    public let displayName: String
    /// `metadata.total_size` from the shard index, if there is one.
    public let declaredTotalSize: Int?
    /// Every tensor name, sorted.
    public let tensorNames: [String]
    private let owner: [String: SafetensorsFile]

    /// Opens `url`, which may be:
    /// - a directory holding `model.safetensors` or `model.safetensors.index.json`
    ///   (the single file wins if both exist, as in transformers);
    /// - a `*.index.json` shard index;
    /// - any single `.safetensors` file (for example a PEFT `adapter_model.safetensors`).
    public convenience init(url: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw SafetensorsError.cannotOpen(file: url.lastPathComponent, reason: "no such file or directory")
        }
        if isDirectory.boolValue {
            let single = url.appendingPathComponent(Self.singleFileName)
            let index = url.appendingPathComponent(Self.indexFileName)
            if FileManager.default.fileExists(atPath: single.path) {
                try self.init(files: [SafetensorsFile(url: single)], declaredTotalSize: nil, weightMap: nil,
                              indexName: nil)
            } else if FileManager.default.fileExists(atPath: index.path) {
                try self.init(indexURL: index)
            } else {
                throw SafetensorsError.noCheckpoint(directory: url.path)
            }
        } else if url.lastPathComponent.hasSuffix(".index.json") {
            try self.init(indexURL: url)
        } else {
            try self.init(files: [SafetensorsFile(url: url)], declaredTotalSize: nil, weightMap: nil,
                          indexName: nil)
        }
    }

    /// Same as `init(url:)`; reads better for directories.
    public convenience init(directory: URL) throws {
        try self.init(url: directory)
    }

    private convenience init(indexURL: URL) throws {
        let index = try SafetensorsIndex(url: indexURL)
        let directory = indexURL.deletingLastPathComponent()
        var files: [SafetensorsFile] = []
        var byShardName: [String: SafetensorsFile] = [:]
        for shard in index.shardNames {
            let shardURL = directory.appendingPathComponent(shard)
            guard FileManager.default.fileExists(atPath: shardURL.path) else {
                throw SafetensorsError.shardMissing(index: indexURL.lastPathComponent, shard: shard)
            }
            let file = try SafetensorsFile(url: shardURL)
            files.append(file)
            byShardName[shard] = file
        }
        try self.init(files: files, declaredTotalSize: index.totalSize,
                      weightMap: (index.weightMap, byShardName), indexName: indexURL.lastPathComponent)
    }

    /// Builds the name → file map, refusing a tensor stored in two files and, with an index,
    /// a tensor the index places in a shard that lacks it. Tensors present in a shard but
    /// absent from the index are ignored, as transformers' loader keys by the index.
    private init(files: [SafetensorsFile], declaredTotalSize: Int?,
                 weightMap: (map: [String: String], shards: [String: SafetensorsFile])?, indexName: String?) throws {
        var found: [String: SafetensorsFile] = [:]
        for file in files {
            for entry in file.entries {
                if let other = found[entry.info.name] {
                    throw SafetensorsError.duplicateTensor(tensor: entry.info.name, firstFile: other.fileName,
                                                           secondFile: file.fileName)
                }
                found[entry.info.name] = file
            }
        }
        if let weightMap, let indexName {
            var owner: [String: SafetensorsFile] = [:]
            for (tensor, shard) in weightMap.map {
                guard let file = found[tensor], file === weightMap.shards[shard] else {
                    throw SafetensorsError.shardLacksTensor(index: indexName, shard: shard, tensor: tensor)
                }
                owner[tensor] = file
            }
            self.owner = owner
        } else {
            self.owner = found
        }
        self.files = files
        self.displayName = indexName ?? files.first?.fileName ?? "checkpoint"
        self.declaredTotalSize = declaredTotalSize
        self.tensorNames = self.owner.keys.sorted()
    }

    /// The file holding `name`, for raw access through `SafetensorsFile.withRawBytes`.
    public func file(containing name: String) -> SafetensorsFile? { owner[name] }

    public func info(_ name: String) -> TensorInfo? { owner[name]?.info(name) }

    public func load(_ name: String) throws -> Tensor {
        guard let file = owner[name] else {
            throw SafetensorsError.tensorNotFound(file: displayName, tensor: name)
        }
        return try file.load(name)
    }

    /// Converts `name` to Float32 into caller-owned storage (see `SafetensorsFile.load(_:into:)`).
    public func load(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        guard let file = owner[name] else {
            throw SafetensorsError.tensorNotFound(file: displayName, tensor: name)
        }
        try file.load(name, into: destination)
    }

    /// Raw stored bytes of `name` without copying (see `SafetensorsFile.withRawBytes`).
    public func withRawBytes<R>(_ name: String,
                                _ body: (UnsafeRawBufferPointer, TensorInfo) throws -> R) throws -> R {
        guard let file = owner[name] else {
            throw SafetensorsError.tensorNotFound(file: displayName, tensor: name)
        }
        return try file.withRawBytes(name, body)
    }

    /// Releases the resident file pages of `name` (see `SafetensorsFile.releasePages`); for
    /// callers done with `withRawBytes`. `load` does this itself. Unknown names are ignored.
    public func releasePages(_ name: String) {
        owner[name]?.releasePages(name)
    }
}

/// The parsed `model.safetensors.index.json`.
struct SafetensorsIndex {
    var totalSize: Int?
    var weightMap: [String: String]
    /// The distinct shard file names, sorted.
    var shardNames: [String]

    init(url: URL) throws {
        let name = url.lastPathComponent
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SafetensorsError.cannotOpen(file: name, reason: error.localizedDescription)
        }
        guard String(data: data, encoding: .utf8) != nil else {
            throw SafetensorsError.invalidIndex(file: name, reason: "it is not UTF-8 text")
        }
        let json: JSONValue
        do { json = try JSONValue.parse(data, rejectDuplicateKeys: true) } catch let error as JSONParseError {
            throw SafetensorsError.invalidIndex(file: name, reason: "bad JSON: \(error.description)")
        }
        guard case .object(let top) = json else {
            throw SafetensorsError.invalidIndex(file: name, reason: "the top level is not an object")
        }
        totalSize = nil
        if let meta = top.first(where: { $0.key == "metadata" })?.value, meta != .null {
            guard case .object(let fields) = meta else {
                throw SafetensorsError.invalidIndex(file: name, reason: "\"metadata\" is not an object")
            }
            if let total = fields.first(where: { $0.key == "total_size" })?.value {
                // Some writers store total_size as a float ("1234.0"); accept any integral value.
                if let n = total.nonNegativeInt {
                    totalSize = n
                } else if case .number(let text) = total, let d = Double(text), d >= 0, d == d.rounded(), d < 9e18 {
                    totalSize = Int(d)
                } else {
                    throw SafetensorsError.invalidIndex(file: name, reason: "total_size is \(total.kindDescription)")
                }
            }
        }
        guard case .object(let pairs)? = top.first(where: { $0.key == "weight_map" })?.value else {
            throw SafetensorsError.invalidIndex(file: name, reason: "there is no \"weight_map\" object")
        }
        var map: [String: String] = [:]
        for (tensor, value) in pairs {
            guard case .string(let shard) = value else {
                throw SafetensorsError.invalidIndex(file: name, reason: "the shard of '\(tensor)' is \(value.kindDescription)")
            }
            guard !shard.isEmpty, !shard.hasPrefix("/"), !shard.split(separator: "/").contains("..") else {
                throw SafetensorsError.invalidIndex(file: name, reason: "shard name '\(shard)' points outside the checkpoint directory")
            }
            map[tensor] = shard
        }
        weightMap = map
        shardNames = Set(map.values).sorted()
    }
}
