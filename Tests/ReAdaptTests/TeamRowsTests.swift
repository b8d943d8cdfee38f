import XCTest
import CKernels
@testable import ReAdapt

final class TeamRowsTests: XCTestCase {
    /// Every index is handed out exactly once, for large (team) and small (calling thread) passes.
    func testRangesCoverEveryRowExactlyOnce() {
        for (count, work) in [(1000, 1000), (3, 1 << 20), (7, 1), (1, 1 << 20), (0, 1 << 20)] {
            let hits = UnsafeMutablePointer<Int32>.allocate(capacity: max(count, 1))
            defer { hits.deallocate() }
            hits.initialize(repeating: 0, count: max(count, 1))
            TeamRows.run(count: count, workPerItem: work) { rows in
                for i in rows { hits[i] += 1 }  // ranges are disjoint, so no two threads share an index
            }
            for i in 0..<count { XCTAssertEqual(hits[i], 1, "count \(count), index \(i)") }
        }
    }

    /// With an OpenMP runtime present (oneDNN brings one) and more than one core allowed, the team
    /// really runs the body on several threads with distinct indices.
    func testTeamRunUsesSeveralThreadsWhenAllowed() throws {
        guard GEMM.maxThreads > 1 else { throw XCTSkip("one core: the team has a single thread") }
        // slots[0..<2]: each thread writes its own index; slots[2]: the team size.
        let slots = UnsafeMutablePointer<Int32>.allocate(capacity: 3)
        defer { slots.deallocate() }
        slots.initialize(repeating: -1, count: 3)
        let ran = ck_team_run(2, { context, index, count in
            let slots = context!.assumingMemoryBound(to: Int32.self)
            if index < 2 { slots[Int(index)] = index }
            if index == 0 { slots[2] = count }
        }, slots)
        XCTAssertEqual(ran, 1)
        XCTAssertEqual([slots[0], slots[1], slots[2]], [0, 1, 2])
    }
}
