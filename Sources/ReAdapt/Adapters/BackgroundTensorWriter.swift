import Foundation

/// Hands tensors to a `SafetensorsShardedWriter` on a background serial queue, so `merge`
/// computes tensor N+1 while tensor N is copied into its shard (the copy into the page cache is
/// about half of a merge's time). Blockwise-merged tensors are produced into one of two reusable
/// output buffers; a buffer is handed out again only after its previous write has finished.
final class BackgroundTensorWriter: @unchecked Sendable {
    private let writer: SafetensorsShardedWriter
    private let queue = DispatchQueue(label: "readapt.merge.writer")
    private let buffers: [UnsafeMutableRawBufferPointer]
    private let available: [DispatchSemaphore]
    private var next = 0
    private let lock = NSLock()
    private var failure: Error?

    init(writer: SafetensorsShardedWriter, bufferSize: Int) {
        self.writer = writer
        buffers = (0..<2).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: max(bufferSize, 1), alignment: 64) }
        available = (0..<2).map { _ in DispatchSemaphore(value: 1) }
    }

    deinit {
        queue.sync {}
        for buffer in buffers { buffer.deallocate() }
    }

    /// The first error a background write hit, if any.
    private func check() throws {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
    }

    private func run(_ body: @escaping () throws -> Void) {
        do { try body() } catch {
            lock.lock()
            if failure == nil { failure = error }
            lock.unlock()
        }
    }

    /// Fills the next free output buffer with `body` (given `byteCount` bytes of it) and queues
    /// the bytes as tensor `name`.
    func writeBuffered(_ name: String, byteCount: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        try check()
        let index = next
        next = 1 - next
        available[index].wait()
        let bytes = UnsafeMutableRawBufferPointer(rebasing: buffers[index][0..<byteCount])
        do { try body(bytes) } catch {
            available[index].signal()
            throw error
        }
        queue.async { [self] in
            let filled = UnsafeRawBufferPointer(rebasing: buffers[index][0..<byteCount])
            run { try self.writer.writeRaw(name, bytes: filled) }
            available[index].signal()
        }
    }

    /// Queues a Float32 tensor (converted to its declared dtype by the writer).
    func write(_ name: String, _ tensor: Tensor) throws {
        try check()
        queue.async { [self] in run { try self.writer.write(name, tensor) } }
    }

    /// Writes bytes that are only valid during this call (a mapped base tensor): waits for the
    /// queue, then writes them.
    func writeNow(_ name: String, bytes: UnsafeRawBufferPointer) throws {
        try check()
        try queue.sync { try writer.writeRaw(name, bytes: bytes) }
    }

    /// Waits for every queued write, reports the first failure, and finishes the checkpoint.
    func finish() throws {
        queue.sync {}
        try check()
        try writer.finish()
    }
}
