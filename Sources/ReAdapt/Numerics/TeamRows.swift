import CKernels

/// Splits row-parallel passes of a batched forward pass (norms, activations, softmax, weight
/// widening) over the BLAS's own OpenMP threads (`ck_team_run`). Between two BLAS products its
/// worker thread is still spinning, so it joins at once; handing the pass to GCD instead puts a
/// third busy thread on the cores and the two pools slow each other down (BENCHMARKS.md).
enum TeamRows {
    /// Below this much work (elements touched) a pass stays on the calling thread.
    static let minimumParallelWork = 32 * 1024

    private struct Job {
        let count: Int
        let body: (Range<Int>) -> Void
    }

    /// Calls `body` on disjoint ranges covering 0..<count, on the OpenMP team when the pass is large.
    static func run(count: Int, workPerItem: Int, _ body: (Range<Int>) -> Void) {
        let threads = count * workPerItem < minimumParallelWork ? 1 : min(GEMM.maxThreads, count)
        if threads <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            var job = Job(count: count, body: escapable)
            withUnsafeMutablePointer(to: &job) { pointer in
                _ = ck_team_run(Int32(threads), { context, index, teamSize in
                    let job = context!.assumingMemoryBound(to: Job.self).pointee
                    let per = (job.count + Int(teamSize) - 1) / Int(teamSize)
                    let start = Int(index) * per, end = min(job.count, start + per)
                    if start < end { job.body(start..<end) }
                }, pointer)
            }
        }
    }
}
