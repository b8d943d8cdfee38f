import Foundation

/// Runs independent jobs on several worker threads while the calling thread loads their inputs
/// and consumes their outputs strictly in order: `load(i)` and `consume(i, output)` run on the
/// caller, one at a time, in index order (so file reads and output writes stay sequential and
/// deterministic); `work(input)` runs on up to `workers` threads at once.
///
/// Memory stays bounded: at most workers + 1 jobs are loaded but not yet consumed (one input
/// waits while every worker is busy), so a slow job holds back at most that many outputs. Each worker's matrix products are
/// capped at `threadsPerWorker` threads (GEMM.threadLimit), so workers do not oversubscribe the
/// cores. The first error met on the calling thread (a load, or a job's output taken in order)
/// is rethrown after every started job has finished.
public enum OrderedPipeline {
    /// Workers to use on this machine: one per core (at least 1).
    public static var defaultWorkers: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    public static func run<Input, Output>(count: Int, workers: Int = defaultWorkers, threadsPerWorker: Int = 1,
                                          load: (Int) throws -> Input,
                                          work: @escaping (Input) throws -> Output,
                                          consume: (Int, Output) throws -> Void) throws {
        if workers <= 1 || count <= 1 {
            for i in 0..<count { try consume(i, try work(try load(i))) }
            return
        }
        let window = workers + 1
        let results = Mailbox<Output>()
        let running = DispatchSemaphore(value: workers)
        let group = DispatchGroup()
        let queue = DispatchQueue(label: "ReAdapt.OrderedPipeline", attributes: .concurrent)
        defer { group.wait() }

        func take(_ index: Int) throws -> Output { try results.take(index).get() }

        var consumed = 0
        for i in 0..<count {
            if i - consumed >= window {
                try consume(consumed, try take(consumed))
                consumed += 1
            }
            let input = try load(i)
            group.enter()
            queue.async {
                running.wait()
                let result = Result { try GEMM.$threadLimit.withValue(threadsPerWorker) { try work(input) } }
                running.signal()
                results.put(i, result)
                group.leave()
            }
        }
        while consumed < count {
            try consume(consumed, try take(consumed))
            consumed += 1
        }
    }
}

/// Finished jobs' results by index, handed from the workers to the consuming thread.
private final class Mailbox<Output>: @unchecked Sendable {
    private let condition = NSCondition()
    private var results: [Int: Result<Output, Error>] = [:]

    func put(_ index: Int, _ result: Result<Output, Error>) {
        condition.lock()
        results[index] = result
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until job `index` has finished and removes its result.
    func take(_ index: Int) -> Result<Output, Error> {
        condition.lock()
        defer { condition.unlock() }
        while results[index] == nil { condition.wait() }
        return results.removeValue(forKey: index)!
    }
}
