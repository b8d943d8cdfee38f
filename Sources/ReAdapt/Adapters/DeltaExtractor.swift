import Foundation

/// What `extract` writes besides the pair: the groups, the stored dtype, the shard size.
public struct DeltaExtractionOptions: Sendable {
    public var groups: [TensorGroup]
    /// nil: the base's most common stored float dtype.
    public var dtype: DType?
    /// Largest shard in bytes (transformers' `max_shard_size`; default "5GB").
    public var maxShardSize: Int
    /// Replace an existing output directory.
    public var replace: Bool

    public init(groups: [TensorGroup] = TensorGroup.allCases, dtype: DType? = nil,
                maxShardSize: Int = 50_000_000_000, replace: Bool = false) {
        self.groups = groups
        self.dtype = dtype
        self.maxShardSize = maxShardSize
        self.replace = replace
    }

    /// Parses a size the way transformers' `max_shard_size` reads it: a byte count, or a number
    /// with KB/MB/GB (powers of 1000) or KiB/MiB/GiB (powers of 1024), case-insensitive.
    public static func parseByteSize(_ text: String) throws -> Int {
        guard let bytes = ReAdapt.parseByteSize(text) else { throw DeltaExtractionError.invalidSize(text) }
        return bytes
    }
}

/// Progress of a dense extraction, after each tensor.
public struct DeltaExtractionProgress: Sendable {
    public var index: Int
    public var count: Int
    public var name: String
    /// Bytes read from both models plus bytes written so far, and the expected total.
    public var bytesMoved: Int
    public var totalBytes: Int
    public var seconds: Double
}

/// The `--json` summary of an extraction.
public struct DeltaExtractionSummary: Codable, Sendable {
    public var output: String
    public var kind: String
    public var dtype: String
    public var tensorCount: Int
    /// Bytes of tensor data written (the index's total_size).
    public var bytesWritten: Int
    public var bytesRead: Int
    public var shards: Int
    public var seconds: Double
    public var carriedRowTensors: [String]
    public var baseVocabSize: Int
    public var instructVocabSize: Int
    public var tiedEmbeddings: Bool

    enum CodingKeys: String, CodingKey {
        case output, kind, dtype, shards, seconds
        case tensorCount = "tensor_count"
        case bytesWritten = "bytes_written"
        case bytesRead = "bytes_read"
        case carriedRowTensors = "carried_row_tensors"
        case baseVocabSize = "base_vocab_size"
        case instructVocabSize = "instruct_vocab_size"
        case tiedEmbeddings = "tied_embeddings"
    }
}

public enum DeltaExtractionError: Error, CustomStringConvertible, Equatable {
    case invalidSize(String)
    case unsupportedDType(String)
    case nothingSelected(groups: [TensorGroup], base: String)

    public var description: String {
        switch self {
        case .invalidSize(let text):
            return "'\(text)' is not a size; give bytes or a number with KB, MB, GB, KiB, MiB or GiB (for example 5GB)."
        case .unsupportedDType(let text):
            return "'\(text)' is not an output dtype; use f32, f16 or bf16."
        case let .nothingSelected(groups, base):
            return "Base model \(base) has no tensors in the groups \(groups.map(\.rawValue).joined(separator: ", ")), so there is nothing to extract."
        }
    }
}

/// instruct - base, tensor by tensor: the full RE-Adapter (a delta checkpoint) or its LoRE form.
///
/// Every delta is computed in Float32 from the stored values and rounded once to the output
/// dtype, so it equals torch's `(instruct.float() - base.float()).to(dtype)` bit for bit. Only
/// one tensor's Float32 buffer is ever held (4 bytes per element of the largest tensor).
public enum DeltaExtractor {
    /// The pair's tensors in `groups`, in the base's storage order.
    public static func selected(_ pair: ModelPair, groups: [TensorGroup]) throws -> [PairedTensor] {
        let chosen = pair.tensors.filter { groups.contains($0.group) }
        guard !chosen.isEmpty else { throw DeltaExtractionError.nothingSelected(groups: groups, base: pair.base.path) }
        return chosen
    }

    /// The metadata recorded next to the output.
    public static func metadata(_ pair: ModelPair, kind: DeltaMetadata.Kind, dtype: DType, groups: [TensorGroup],
                                tensors: [PairedTensor]) -> DeltaMetadata {
        let selected = Set(tensors.map(\.name))
        return DeltaMetadata(kind: kind, base: pair.base.sourceModel, instruct: pair.instruct.sourceModel,
                             dtype: dtype.rawValue, groups: groups, tensors: selected.sorted(),
                             tiedEmbeddings: pair.tiedEmbeddings, baseVocabSize: pair.baseVocabSize,
                             instructVocabSize: pair.instructVocabSize,
                             carriedRowTensors: pair.carriedRowTensors.filter(selected.contains))
    }

    /// instruct - base for one tensor, in Float32 (rows past the base's carried whole).
    public static func delta(_ pair: ModelPair, _ tensor: PairedTensor) throws -> Tensor {
        let count = tensor.deltaShape.reduce(1, *)
        var scalars = [Float](repeating: 0, count: count)
        try scalars.withUnsafeMutableBytes { try encodeDelta(pair, tensor, as: .f32, into: $0) }
        return Tensor(shape: tensor.deltaShape, scalars: scalars)
    }

    /// Writes the dense delta checkpoint to `output` (atomically, through a staging directory).
    public static func writeDense(_ pair: ModelPair, to output: URL, options: DeltaExtractionOptions,
                                  progress: ((DeltaExtractionProgress) -> Void)? = nil) throws -> DeltaExtractionSummary {
        let start = ContinuousClock.now
        let tensors = try selected(pair, groups: options.groups)
        let dtype = options.dtype ?? pair.baseDType
        let staging = try StagingDirectory(output: output, replace: options.replace)
        let infos = tensors.map { TensorInfo(name: $0.name, dtype: dtype, shape: $0.deltaShape) }
        let writer = try SafetensorsShardedWriter(directory: staging.url, tensors: infos, maxShardSize: options.maxShardSize)
        defer { writer.cancel() }

        let bytesRead = inputBytes(pair, tensors)
        let totalBytes = bytesRead + writer.totalSize
        // One output buffer in the stored dtype, reused: the largest tensor's bytes are the peak.
        let largest = tensors.map { $0.deltaShape.reduce(1, *) }.max() ?? 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(largest * dtype.size, 1), alignment: 64)
        defer { buffer.deallocate() }
        SafetensorsFile.adviseHugePages(buffer)
        var moved = 0, unflushed = 0
        let flusher = DispatchQueue(label: "readapt.extract.writeback")
        defer { flusher.sync {} }
        for (i, tensor) in tensors.enumerated() {
            let count = tensor.deltaShape.reduce(1, *)
            let bytes = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(count * dtype.size)])
            try encodeDelta(pair, tensor, as: dtype, into: bytes)
            try writer.writeRaw(tensor.name, bytes: UnsafeRawBufferPointer(bytes))
            moved += storedBytes(pair.base, tensor.name) + storedBytes(pair.instruct, tensor.name) + count * dtype.size
            unflushed += count * dtype.size
            if unflushed >= 128 << 20 {
                let directory = staging.url
                flusher.async { startWriteback(in: directory) }
                unflushed = 0
            }
            progress?(DeltaExtractionProgress(index: i + 1, count: tensors.count, name: tensor.name, bytesMoved: moved,
                                              totalBytes: totalBytes, seconds: (ContinuousClock.now - start).seconds))
        }
        try writer.finish()
        let metadata = Self.metadata(pair, kind: .dense, dtype: dtype, groups: options.groups, tensors: tensors)
        try staging.write(try encode(metadata), to: DeltaMetadata.fileName)
        try staging.commit()
        return DeltaExtractionSummary(output: output.path, kind: DeltaMetadata.Kind.dense.rawValue, dtype: dtype.rawValue,
                                      tensorCount: tensors.count, bytesWritten: writer.totalSize, bytesRead: bytesRead,
                                      shards: writer.shardFileNames.count, seconds: (ContinuousClock.now - start).seconds,
                                      carriedRowTensors: metadata.carriedRowTensors, baseVocabSize: pair.baseVocabSize,
                                      instructVocabSize: pair.instructVocabSize, tiedEmbeddings: pair.tiedEmbeddings)
    }

    /// Writes a LoRE adapter to `output`: 2-D linear weights are factorized by
    /// `LoREExtraction.write`, every other included tensor goes to its dense companion file.
    public static func writeLoRE(_ pair: ModelPair, to output: URL, options: DeltaExtractionOptions, lore: LoREOptions,
                                 progress: ((String) -> Void)? = nil) throws -> (summary: DeltaExtractionSummary, report: LoREReport) {
        let start = ContinuousClock.now
        let tensors = try selected(pair, groups: options.groups)
        let dtype = options.dtype ?? pair.baseDType
        var loreOptions = lore
        loreOptions.outputDType = dtype
        let isLinear: (PairedTensor) -> Bool = { $0.group == .linear && $0.deltaShape.count == 2 }
        let info: (PairedTensor) -> TensorInfo = { TensorInfo(name: $0.name, dtype: dtype, shape: $0.deltaShape) }
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        let metadata = Self.metadata(pair, kind: .lore, dtype: dtype, groups: options.groups, tensors: tensors)
        let staging = try StagingDirectory(output: output, replace: options.replace)
        let report = try LoREExtraction.write(
            linear: tensors.filter(isLinear).map(info), dense: tensors.filter { !isLinear($0) }.map(info),
            loadDelta: { name in
                guard let tensor = byName[name] else {
                    throw SafetensorsError.tensorNotFound(file: pair.base.path, tensor: name)
                }
                return try delta(pair, tensor)
            },
            options: loreOptions, metadata: metadata, baseModelPath: pair.base.path, to: staging.url, progress: progress)
        try staging.commit()
        let written = (try? FileManager.default.contentsOfDirectory(atPath: output.path))?.reduce(0) { total, name in
            let size = (try? FileManager.default.attributesOfItem(atPath: output.appendingPathComponent(name).path)[.size]) as? NSNumber
            return total + (size?.intValue ?? 0)
        } ?? 0
        let summary = DeltaExtractionSummary(output: output.path, kind: DeltaMetadata.Kind.lore.rawValue, dtype: dtype.rawValue,
                                             tensorCount: tensors.count, bytesWritten: written, bytesRead: inputBytes(pair, tensors), shards: 1,
                                             seconds: (ContinuousClock.now - start).seconds,
                                             carriedRowTensors: metadata.carriedRowTensors, baseVocabSize: pair.baseVocabSize,
                                             instructVocabSize: pair.instructVocabSize, tiedEmbeddings: pair.tiedEmbeddings)
        return (summary, report)
    }

    /// Starts the disk writeback of what is written so far in `directory` (every file in a
    /// staging directory is ours), on a background queue so the computation never waits for it.
    /// Otherwise an output smaller than the kernel's dirty threshold (10% of RAM) reaches the disk
    /// only in the writer's final fsync, after all the computation, instead of alongside it.
    static func startWriteback(in directory: URL) {
        #if os(Linux)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] {
            let fd = open(directory.appendingPathComponent(name).path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)   // Linux: start writeback, drop clean pages
            close(fd)
        }
        #endif
    }

    /// Stored bytes of `model`'s tensor `name` (what reading it costs).
    static func storedBytes(_ model: PairedModel, _ name: String) -> Int {
        model.source.info(name).map { $0.elementCount * $0.dtype.size } ?? 0
    }

    /// Stored bytes of `tensors` in both models (LoRE with a rank budget reads them twice).
    static func inputBytes(_ pair: ModelPair, _ tensors: [PairedTensor]) -> Int {
        tensors.reduce(0) { $0 + storedBytes(pair.base, $1.name) + storedBytes(pair.instruct, $1.name) }
    }

    static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value) + Data("\n".utf8)
    }

    /// Writes instruct - base for `tensor` into `out` (its element count × `dtype.size` bytes) in
    /// `dtype`. Rows past the base's end are the instruct rows (minus nothing). Safetensors sources
    /// are read straight from their mappings in cache-sized chunks, on every core: each chunk is
    /// widened to Float32, subtracted and narrowed once, so no Float32 copy of the tensor exists.
    static func encodeDelta(_ pair: ModelPair, _ tensor: PairedTensor, as dtype: DType,
                            into out: UnsafeMutableRawBufferPointer) throws {
        let name = tensor.name
        let count = tensor.deltaShape.reduce(1, *), baseCount = tensor.baseShape.reduce(1, *)
        guard let base = pair.base.source as? SafetensorsCheckpoint,
              let instruct = pair.instruct.source as? SafetensorsCheckpoint else {
            // Other sources (GGUF) hand out whole Float32 tensors.
            var difference = try pair.instruct.source.load(name).scalars
            let original = try pair.base.source.load(name).scalars
            for k in 0..<baseCount { difference[k] -= original[k] }
            difference.withUnsafeBufferPointer { narrow($0.baseAddress!, count: count, to: dtype, into: out.baseAddress!) }
            return
        }
        defer {
            base.releasePages(name)
            instruct.releasePages(name)
        }
        try base.withRawBytes(name) { baseRaw, baseInfo in
            try instruct.withRawBytes(name) { instructRaw, instructInfo in
                ParallelRows.run(count: count, workPerItem: 1, alignment: 4096) { range in
                    let chunk = 1 << 14
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * chunk)
                    defer { scratch.deallocate() }
                    var start = range.lowerBound, released = range.lowerBound
                    while start < range.upperBound {
                        if start - released >= releaseEvery {
                            releasePages(instructRaw, elements: released..<start, size: instructInfo.dtype.size)
                            releasePages(baseRaw, elements: released..<min(start, baseCount), size: baseInfo.dtype.size)
                            released = start
                        }
                        let n = min(chunk, range.upperBound - start)
                        widen(instructRaw.baseAddress! + start * instructInfo.dtype.size, instructInfo.dtype, count: n, into: scratch)
                        let shared = min(start + n, baseCount) - start
                        if shared > 0 {
                            widen(baseRaw.baseAddress! + start * baseInfo.dtype.size, baseInfo.dtype, count: shared, into: scratch + chunk)
                            subtract(scratch + chunk, from: scratch, count: shared)
                        }
                        narrow(scratch, count: n, to: dtype, into: out.baseAddress! + start * dtype.size)
                        start += n
                    }
                }
            }
        }
    }

    /// Elements read between two releases of their file pages: with the pages of a multi-gigabyte
    /// embedding released only at its end, both models' copies of it would stay resident.
    static let releaseEvery = 1 << 22

    /// Drops the resident pages wholly inside `elements` of a read-only private file mapping
    /// (clean pages: a later read faults them back from the page cache; values never change).
    static func releasePages(_ raw: UnsafeRawBufferPointer, elements: Range<Int>, size: Int) {
        #if os(Linux)
        guard !elements.isEmpty, let base = raw.baseAddress else { return }
        let page = 4096
        let first = Int(bitPattern: base) + elements.lowerBound * size
        let start = (first + page - 1) & ~(page - 1)
        let end = (Int(bitPattern: base) + elements.upperBound * size) & ~(page - 1)
        guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(pointer, end - start, MADV_DONTNEED)
        #endif
    }

    /// Float32 from stored F32/F16/BF16 bytes (ModelPair admits no other dtype).
    static func widen(_ source: UnsafeRawPointer, _ dtype: DType, count: Int, into out: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f16: FloatConversion.widen(source, format: .f16, into: out, count: count)
        case .bf16: FloatConversion.widen(source, format: .bf16, into: out, count: count)
        default: memcpy(out, source, count * 4)
        }
    }

    /// Stored bytes of `dtype` (F32, F16, BF16; rounding to nearest even) from Float32.
    static func narrow(_ source: UnsafePointer<Float>, count: Int, to dtype: DType, into out: UnsafeMutableRawPointer) {
        switch dtype {
        case .f16: FloatConversion.narrow(source, format: .f16, into: out, count: count)
        case .bf16: FloatConversion.narrow(source, format: .bf16, into: out, count: count)
        default: memcpy(out, source, count * 4)
        }
    }

    /// difference[i] -= base[i] (IEEE single precision: one rounding, as torch's subtraction).
    @inline(__always)
    static func subtract(_ base: UnsafePointer<Float>, from difference: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { difference[i] -= base[i] }
    }
}
