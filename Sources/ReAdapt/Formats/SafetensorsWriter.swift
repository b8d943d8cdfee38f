import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes one safetensors file tensor by tensor, byte-identical to Python's `safetensors`
/// for the same tensors and (at most one key of) metadata.
///
/// The caller declares every tensor up front (so the header can be written first), then supplies
/// each tensor's data, in any order, one at a time; nothing but a small conversion buffer is held.
/// Data goes to a hidden temporary file in the target directory that `finish()` renames to `url`;
/// if the writer is dropped or fails before that, the temporary file is removed, so nothing at
/// `url` ever looks finished when it is not.
public final class SafetensorsWriter {
    public let url: URL
    /// Tensors in the order they are stored in the file.
    public var orderedTensors: [TensorInfo] { layout.entries.map(\.info) }
    /// Size of the finished file in bytes.
    public var fileSize: Int { layout.fileSize }

    private let layout: SafetensorsLayout
    private let index: [String: Int]
    private var written: [Bool]
    private var output: SafetensorsPartialFile?
    private var fileName: String { url.lastPathComponent }

    /// Declares the file's tensors and writes its header. `metadata` nil writes no `__metadata__`.
    public init(url: URL, tensors: [TensorInfo], metadata: [String: String]? = nil) throws {
        self.url = url
        self.layout = try SafetensorsLayout(tensors: tensors, metadata: metadata, fileName: url.lastPathComponent)
        var index: [String: Int] = [:]
        for (i, entry) in layout.entries.enumerated() { index[entry.info.name] = i }
        self.index = index
        self.written = [Bool](repeating: false, count: layout.entries.count)
        let output = try SafetensorsPartialFile(finalURL: url)
        self.output = output
        try layout.header.withUnsafeBytes { try output.write($0, at: 0) }
    }

    deinit {
        output?.discard()
    }

    /// Writes `tensor` (Float32) as `name`, converting to the declared dtype (F32, F16 or BF16;
    /// rounding to nearest even like torch). The shape must match the declaration.
    public func write(_ name: String, _ tensor: Tensor) throws {
        let entry = try pending(name)
        guard tensor.shape == entry.info.shape else {
            throw SafetensorsError.invalidWriteRequest(
                file: fileName, reason: "tensor '\(name)' was declared with shape \(entry.info.shape) but has shape \(tensor.shape)")
        }
        try tensor.scalars.withUnsafeBufferPointer { try write(name, scalars: $0) }
    }

    /// Writes Float32 values (row-major, count = the declared element count) as `name`,
    /// converting to the declared dtype.
    public func write(_ name: String, scalars: UnsafeBufferPointer<Float>) throws {
        let (position, entry) = try pendingIndex(name)
        guard scalars.count == entry.info.elementCount else {
            throw SafetensorsError.invalidWriteRequest(
                file: fileName, reason: "tensor '\(name)' needs \(entry.info.elementCount) values but got \(scalars.count)")
        }
        let output = try openOutput()
        let dtype = entry.info.dtype
        let base = layout.dataStart + entry.dataRange.lowerBound
        switch dtype {
        case .f32:
            try output.write(UnsafeRawBufferPointer(scalars), at: base)
        case .f16, .bf16:
            // Convert through a bounded buffer so memory stays flat however large the tensor.
            let chunk = 1 << 16
            var buffer = [UInt16](repeating: 0, count: min(chunk, scalars.count))
            var start = 0
            while start < scalars.count {
                let n = min(chunk, scalars.count - start)
                try buffer.withUnsafeMutableBytes { out in
                    guard let src = scalars.baseAddress, let dst = out.baseAddress else { return }
                    FloatConversion.narrow(src + start, format: dtype == .f16 ? .f16 : .bf16, into: dst, count: n)
                    try output.write(UnsafeRawBufferPointer(rebasing: out[0..<(2 * n)]), at: base + 2 * start)
                }
                start += n
            }
        default:
            throw SafetensorsError.invalidWriteRequest(
                file: fileName, reason: "tensor '\(name)' is declared \(dtype.rawValue); write it with writeRaw")
        }
        written[position] = true
    }

    /// Writes already-encoded little-endian bytes for `name` (any dtype); the byte count must be
    /// exactly what the declared dtype and shape need.
    public func writeRaw(_ name: String, bytes: UnsafeRawBufferPointer) throws {
        let (position, entry) = try pendingIndex(name)
        guard bytes.count == entry.dataRange.count else {
            throw SafetensorsError.invalidWriteRequest(
                file: fileName, reason: "tensor '\(name)' needs \(entry.dataRange.count) bytes but got \(bytes.count)")
        }
        try openOutput().write(bytes, at: layout.dataStart + entry.dataRange.lowerBound)
        written[position] = true
    }

    /// Checks every declared tensor was written, flushes to disk and renames into place.
    public func finish() throws {
        let output = try openOutput()
        if let missing = written.firstIndex(of: false) {
            throw SafetensorsError.invalidWriteRequest(
                file: fileName, reason: "tensor '\(layout.entries[missing].info.name)' was declared but never written")
        }
        try output.commit(expectedSize: layout.fileSize)
        self.output = nil
    }

    /// Abandons the file: removes the temporary file; nothing appears at `url`.
    public func cancel() {
        output?.discard()
        output = nil
    }

    private func openOutput() throws -> SafetensorsPartialFile {
        guard let output else {
            throw SafetensorsError.invalidWriteRequest(file: fileName, reason: "the writer is already finished or cancelled")
        }
        return output
    }

    private func pending(_ name: String) throws -> SafetensorsFile.Entry { try pendingIndex(name).1 }

    private func pendingIndex(_ name: String) throws -> (Int, SafetensorsFile.Entry) {
        guard let position = index[name] else {
            throw SafetensorsError.invalidWriteRequest(file: fileName, reason: "tensor '\(name)' was not declared")
        }
        guard !written[position] else {
            throw SafetensorsError.invalidWriteRequest(file: fileName, reason: "tensor '\(name)' was already written")
        }
        return (position, layout.entries[position])
    }
}

/// A hidden temporary file next to its final path, renamed into place on commit and removed
/// otherwise.
final class SafetensorsPartialFile {
    let finalURL: URL
    let temporaryPath: String
    private var fd: Int32
    private var fileName: String { finalURL.lastPathComponent }

    init(finalURL: URL) throws {
        self.finalURL = finalURL
        let directory = finalURL.deletingLastPathComponent().path
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        self.temporaryPath = directory + "/." + finalURL.lastPathComponent + ".partial-\(getpid())-" + suffix
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else {
            throw SafetensorsError.writeFailed(file: finalURL.lastPathComponent,
                                               reason: "cannot create a file in \(directory): \(String(cString: strerror(errno)))")
        }
    }

    deinit { discard() }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        guard fd >= 0 else { throw SafetensorsError.writeFailed(file: fileName, reason: "the file is closed") }
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SafetensorsError.writeFailed(file: fileName, reason: String(cString: strerror(errno)))
            }
            done += n
        }
    }

    /// Sets the final size (a trailing run of empty tensors writes nothing), syncs and renames.
    func commit(expectedSize: Int) throws {
        guard fd >= 0 else { throw SafetensorsError.writeFailed(file: fileName, reason: "the file is closed") }
        if ftruncate(fd, off_t(expectedSize)) != 0 || fsync(fd) != 0 {
            let reason = String(cString: strerror(errno))
            discard()
            throw SafetensorsError.writeFailed(file: fileName, reason: reason)
        }
        close(fd)
        fd = -1
        if rename(temporaryPath, finalURL.path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw SafetensorsError.writeFailed(file: fileName, reason: "cannot rename into place: \(reason)")
        }
    }

    func discard() {
        if fd >= 0 {
            close(fd)
            fd = -1
            unlink(temporaryPath)
        }
    }
}
