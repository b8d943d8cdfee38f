import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One safetensors file, memory-mapped read-only and validated completely when opened.
///
/// Opening reads only the header; tensor bytes stay in the mapping until `load` or
/// `withRawBytes` touches them, so opening a multi-gigabyte checkpoint is cheap. `load` hands
/// the pages it read back to the kernel once the tensor is converted (see `releasePages`), so
/// loading a model tensor by tensor holds about one tensor of the file resident, not all of it.
/// The mapping lives as long as this object. Instances are immutable and safe to share across
/// threads. As with any memory-mapped reader, truncating the file while it is open makes later
/// reads of the lost pages fault (SIGBUS); checkpoints are not expected to change under a reader.
public final class SafetensorsFile: @unchecked Sendable {
    /// Headers longer than this are refused, as the reference implementation does.
    public static let maxHeaderLength = 100_000_000

    /// Where a tensor's bytes lie, relative to the start of the data region.
    public struct Entry: Equatable, Sendable {
        public var info: TensorInfo
        public var dataRange: Range<Int>
    }

    public let url: URL
    /// The `__metadata__` map (empty if the file has none).
    public let metadata: [String: String]
    /// Tensors in file order (ascending data offset).
    public let entries: [Entry]
    /// Byte offset of the data region from the start of the file (8 + header length).
    public let dataStart: Int

    private let entryIndex: [String: Int]
    private let mapping: UnsafeMutableRawPointer
    private let mappedLength: Int

    /// The file name used in error messages.
    var fileName: String { url.lastPathComponent }

    /// Opens, maps and validates `url`. Throws `SafetensorsError` for any fault in the file.
    public init(url: URL) throws {
        self.url = url
        let name = url.lastPathComponent
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SafetensorsError.cannotOpen(file: name, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw SafetensorsError.cannotOpen(file: name, reason: String(cString: strerror(errno)))
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw SafetensorsError.cannotOpen(file: name, reason: "not a regular file")
        }
        let size = Int(status.st_size)
        guard size >= 8 else { throw SafetensorsError.fileTooSmall(file: name, size: size) }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw SafetensorsError.cannotOpen(file: name, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        do {
            let bytes = UnsafeRawBufferPointer(start: base, count: size)
            let header = try SafetensorsHeader.parse(bytes, fileName: name)
            self.metadata = header.metadata
            self.entries = header.entries
            self.dataStart = header.dataStart
        } catch {
            munmap(base, size)
            throw error
        }
        self.mapping = base
        self.mappedLength = size
        var index: [String: Int] = [:]
        for (i, entry) in entries.enumerated() { index[entry.info.name] = i }
        self.entryIndex = index
    }

    deinit {
        munmap(mapping, mappedLength)
    }

    /// Every tensor name, sorted.
    public var tensorNames: [String] { entries.map(\.info.name).sorted() }

    public func entry(_ name: String) -> Entry? {
        entryIndex[name].map { entries[$0] }
    }

    public func info(_ name: String) -> TensorInfo? { entry(name)?.info }

    /// Calls `body` with the tensor's bytes exactly as stored (little-endian, possibly unaligned),
    /// without copying. The pointer is valid only during the call. The pages read stay resident
    /// afterwards (a caller may come back to the same tensor); call `releasePages(_:)` when done.
    public func withRawBytes<R>(_ name: String,
                                _ body: (UnsafeRawBufferPointer, TensorInfo) throws -> R) throws -> R {
        guard let entry = entry(name) else {
            throw SafetensorsError.tensorNotFound(file: fileName, tensor: name)
        }
        let start = UnsafeRawPointer(mapping) + dataStart + entry.dataRange.lowerBound
        return try body(UnsafeRawBufferPointer(start: start, count: entry.dataRange.count), entry.info)
    }

    /// The tensor converted to Float32. F32, F16 and BF16 convert exactly; other dtypes throw
    /// `unsupportedDType`. The tensor's pages of the file are released afterwards.
    public func load(_ name: String) throws -> Tensor {
        defer { releasePages(name) }
        return try withRawBytes(name) { raw, info in
            guard [.f32, .f16, .bf16].contains(info.dtype) else {
                throw SafetensorsError.unsupportedDType(file: fileName, tensor: name, dtype: info.dtype)
            }
            let count = info.elementCount
            // Filled by the conversion directly: no zero-fill pass over a possibly huge array.
            let scalars = try [Float](unsafeUninitializedCapacity: count) { out, initialized in
                SafetensorsFile.adviseHugePages(UnsafeMutableRawBufferPointer(out))
                try SafetensorsFile.convert(raw, dtype: info.dtype, into: out, fileName: fileName, tensor: name)
                initialized = count
            }
            return Tensor(shape: info.shape, scalars: scalars)
        }
    }

    /// Asks the kernel to back the 2 MiB-aligned interior of a large, not yet touched buffer with
    /// transparent huge pages: filling a fresh multi-megabyte array is otherwise dominated by one
    /// page fault per 4 KiB. Harmless where THP is unavailable (the call just fails).
    static func adviseHugePages(_ buffer: UnsafeMutableRawBufferPointer) {
        #if os(Linux)
        let hugePage = 2 << 20
        guard buffer.count >= hugePage, let base = buffer.baseAddress else { return }
        let start = (Int(bitPattern: base) + hugePage - 1) & ~(hugePage - 1)
        let end = (Int(bitPattern: base) + buffer.count) & ~(hugePage - 1)
        guard end > start, let aligned = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(aligned, end - start, 14 /* MADV_HUGEPAGE */)
        #endif
    }

    /// Converts the tensor to Float32 straight into `destination`, which must hold exactly its
    /// element count (for loading into storage the caller already owns, without a temporary array).
    /// The tensor's pages of the file are released afterwards.
    public func load(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        defer { releasePages(name) }
        try withRawBytes(name) { raw, info in
            guard [.f32, .f16, .bf16].contains(info.dtype) else {
                throw SafetensorsError.unsupportedDType(file: fileName, tensor: name, dtype: info.dtype)
            }
            guard destination.count == info.elementCount else {
                throw SafetensorsError.destinationSizeMismatch(file: fileName, tensor: name, elements: info.elementCount,
                                                               destination: destination.count)
            }
            try SafetensorsFile.convert(raw, dtype: info.dtype, into: destination, fileName: fileName, tensor: name)
        }
    }

    /// Drops this process's resident copy of the whole pages that lie inside `name`'s bytes, so
    /// the memory a loaded tensor's file data occupied returns to the system at once rather than
    /// when the file is closed. Values are unaffected: the mapping is read-only and private, its
    /// pages are never written, so `MADV_DONTNEED` only unmaps clean file pages and any later read
    /// (including one by a concurrent `withRawBytes` caller) faults them back in from the file
    /// (from the page cache, usually). Pages shared with a neighbouring tensor are left alone.
    /// Unknown names are ignored.
    public func releasePages(_ name: String) {
        #if os(Linux)
        guard let entry = entry(name) else { return }
        let page = SafetensorsFile.pageSize
        let first = Int(bitPattern: mapping) + dataStart + entry.dataRange.lowerBound
        let start = (first + page - 1) & ~(page - 1)
        let end = (first + entry.dataRange.count) & ~(page - 1)
        guard end > start, let interior = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(interior, end - start, MADV_DONTNEED)  // failure only costs memory, never values
        #endif
    }

    private static let pageSize = max(Int(sysconf(Int32(_SC_PAGESIZE))), 4096)

    /// Converts stored elements of a float dtype into `out` (which holds exactly their count).
    static func convert(_ raw: UnsafeRawBufferPointer, dtype: DType, into out: UnsafeMutableBufferPointer<Float>,
                        fileName: String, tensor: String) throws {
        guard let src = raw.baseAddress, let dst = out.baseAddress else { return }
        switch dtype {
        case .f32: memcpy(dst, src, out.count * 4)
        case .f16: FloatConversion.widen(src, format: .f16, into: dst, count: out.count)
        case .bf16: FloatConversion.widen(src, format: .bf16, into: dst, count: out.count)
        default: throw SafetensorsError.unsupportedDType(file: fileName, tensor: tensor, dtype: dtype)
        }
    }
}

extension SafetensorsFile: TensorSource {}
