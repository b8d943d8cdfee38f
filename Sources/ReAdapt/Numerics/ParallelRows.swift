import Foundation

/// Splits work over output rows across the machine's cores. Kept tiny on purpose: decode calls
/// it a few hundred times per token, so small jobs must stay on the calling thread.
enum ParallelRows {
    static let coreCount = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Below this many multiply-adds a job runs on the calling thread: waking a second thread
    /// costs several microseconds, which is what ~100K multiply-adds take from cache.
    static let minimumParallelWork = 96 * 1024

    /// Calls `body` on disjoint ranges covering 0..<count, concurrently when the job is large.
    /// Range bounds are multiples of `alignment` (except the end) so SIMD tiles stay whole.
    static func run(count: Int, workPerItem: Int, alignment: Int = 4,
                    _ body: (Range<Int>) -> Void) {
        let chunks = count * workPerItem < minimumParallelWork ? 1 : min(coreCount, count / alignment)
        if chunks <= 1 {
            body(0..<count)
            return
        }
        let perChunk = (count + chunks - 1) / chunks
        let step = (perChunk + alignment - 1) / alignment * alignment
        DispatchQueue.concurrentPerform(iterations: chunks) { index in
            let start = index * step
            let end = min(count, start + step)
            if start < end { body(start..<end) }
        }
    }
}
