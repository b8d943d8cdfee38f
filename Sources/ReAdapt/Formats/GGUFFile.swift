import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a GGUF file says about one tensor.
public struct GGUFTensorInfo: Equatable, Sendable {
    public var name: String
    /// Dimensions in GGML order: `ne[0]` (the contiguous, fastest-varying one) first.
    public var ggmlDims: [Int]
    public var type: GGMLType
    /// Byte offset relative to the start of the data section.
    public var offset: UInt64
    public var byteCount: Int

    /// Dimensions in numpy / PyTorch order (GGML's reversed).
    public var shape: [Int] { ggmlDims.reversed() }
    public var elementCount: Int { ggmlDims.reduce(1, *) }

    init(name: String, ggmlDims dims: [UInt64], type: GGMLType, offset: UInt64, fileName: String) throws {
        var elements = 1
        for d in dims {
            guard d <= UInt64(Int.max) else { throw GGUFError.sizeOverflow(file: fileName, tensor: name) }
            let (product, overflow) = elements.multipliedReportingOverflow(by: Int(d))
            guard !overflow else { throw GGUFError.sizeOverflow(file: fileName, tensor: name) }
            elements = product
        }
        let layout = type.blockLayout
        guard Int(dims[0]) % layout.elements == 0 else {
            throw GGUFError.invalidShape(file: fileName, tensor: name,
                                         reason: "its row length \(dims[0]) is not a multiple of \(type.name)'s block of \(layout.elements)")
        }
        let (bytes, overflow) = (elements / layout.elements).multipliedReportingOverflow(by: layout.bytes)
        guard !overflow else { throw GGUFError.sizeOverflow(file: fileName, tensor: name) }
        self.name = name
        self.ggmlDims = dims.map { Int($0) }
        self.type = type
        self.offset = offset
        self.byteCount = bytes
    }
}

/// A GGUF (v2/v3) file, memory-mapped read-only and validated completely when opened: every
/// count, string and tensor range is checked against the file's size before it is trusted.
/// Tensor names here are llama.cpp's (`blk.0.attn_q.weight`); `GGUFCheckpoint` gives the
/// Hugging Face view. Instances are immutable and safe to share across threads.
public final class GGUFFile: @unchecked Sendable {
    public let url: URL
    public let version: UInt32
    /// Every metadata value by key.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    /// `general.alignment`, or 32.
    public let alignment: Int
    /// Byte offset of the data section from the start of the file.
    public let dataStart: Int

    private let tensorIndex: [String: Int]
    private let mapping: UnsafeMutableRawPointer?
    private let mappedLength: Int

    var fileName: String { url.lastPathComponent }

    /// Opens, maps and validates `url`. Throws `GGUFError` for any fault in the file.
    public init(url: URL) throws {
        self.url = url
        let name = url.lastPathComponent
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw GGUFError.cannotOpen(file: name, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw GGUFError.cannotOpen(file: name, reason: String(cString: strerror(errno)))
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw GGUFError.cannotOpen(file: name, reason: "not a regular file") }
        let size = Int(status.st_size)
        guard size > 0 else { throw GGUFError.truncated(file: name, what: "the magic bytes", offset: 0) }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw GGUFError.cannotOpen(file: name, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        do {
            let header = try GGUFHeader.parse(UnsafeRawBufferPointer(start: base, count: size), fileName: name)
            version = header.version
            metadata = header.metadata
            metadataKeys = header.metadataKeys
            tensors = header.tensors
            alignment = header.alignment
            dataStart = header.dataStart
        } catch {
            munmap(base, size)
            throw error
        }
        mapping = base
        mappedLength = size
        var index: [String: Int] = [:]
        for (i, tensor) in tensors.enumerated() { index[tensor.name] = i }
        tensorIndex = index
    }

    deinit {
        if let mapping { munmap(mapping, mappedLength) }
    }

    public subscript(key: String) -> GGUFValue? { metadata[key] }

    public func tensor(_ name: String) -> GGUFTensorInfo? { tensorIndex[name].map { tensors[$0] } }

    /// Calls `body` with the tensor's stored bytes (possibly unaligned), without copying.
    public func withRawBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer, GGUFTensorInfo) throws -> R) throws -> R {
        guard let info = tensor(name), let mapping else { throw GGUFError.tensorNotFound(file: fileName, tensor: name) }
        let start = UnsafeRawPointer(mapping) + dataStart + Int(info.offset)
        return try body(UnsafeRawBufferPointer(start: start, count: info.byteCount), info)
    }

    /// The tensor dequantized to Float32, shaped in numpy order (GGML dims reversed), exactly as
    /// gguf-py's `dequantize` computes it. The tensor's pages of the file are released afterwards.
    public func dequantize(_ name: String) throws -> Tensor {
        defer { releasePages(name) }
        return try withRawBytes(name) { raw, info in
            let count = info.elementCount
            let scalars = try [Float](unsafeUninitializedCapacity: count) { out, initialized in
                try GGUFDequantizer.dequantize(raw, type: info.type, into: out, fileName: fileName, tensor: name)
                initialized = count
            }
            return Tensor(shape: info.shape, scalars: scalars)
        }
    }

    /// Drops this process's resident copy of the whole pages inside `name`'s bytes (clean,
    /// read-only file pages: a later read faults them back in), so loading a model tensor by tensor
    /// holds about one tensor of the file resident. Unknown names are ignored.
    public func releasePages(_ name: String) {
        #if os(Linux)
        guard let info = tensor(name), let mapping else { return }
        let page = max(Int(sysconf(Int32(_SC_PAGESIZE))), 4096)
        let first = Int(bitPattern: mapping) + dataStart + Int(info.offset)
        let start = (first + page - 1) & ~(page - 1)
        let end = (first + info.byteCount) & ~(page - 1)
        guard end > start, let interior = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(interior, end - start, MADV_DONTNEED)  // failure only costs memory, never values
        #endif
    }
}
