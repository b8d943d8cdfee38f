import Foundation
import XCTest
@testable import ReAdapt

/// The schedules against transformers' get_*_schedule_with_warmup driving torch's LambdaLR
/// (scripts/fixtures/make_optim_fixtures.py): the lr each optimizer step actually used, for 24
/// steps of a 20-step schedule with 5 warmup steps (and linear without warmup).
final class OptimScheduleTests: XCTestCase {
    struct Schedule: Decodable {
        var kind: String
        var baseLR: Double
        var warmup: Int
        var total: Int
        var lrs: [Double]
        enum CodingKeys: String, CodingKey { case kind, warmup, total, lrs, baseLR = "base_lr" }
    }

    /// Tolerance: 1e-7 relative to the base lr (the values are computed in Double on both sides).
    func testLearningRatePerOptimizerStepMatchesTransformers() throws {
        let schedules = try OptimAdamWTests.fixture("schedules.json", as: [Schedule].self)
        XCTAssertEqual(schedules.count, 4)
        for s in schedules {
            let kind = try XCTUnwrap(LearningRateSchedule.Kind(rawValue: s.kind))
            let schedule = LearningRateSchedule(kind: kind, baseLearningRate: s.baseLR, warmupSteps: s.warmup,
                                                totalSteps: s.total)
            for (step, expected) in s.lrs.enumerated() {
                XCTAssertEqual(schedule.learningRate(step: step), expected, accuracy: 1e-7 * s.baseLR,
                               "\(s.kind) warmup \(s.warmup) step \(step)")
            }
            // The off-by-one that matters: with warmup the first step uses lr 0, the peak is at step = warmup.
            if s.warmup > 0 {
                XCTAssertEqual(s.lrs[0], 0)
                XCTAssertEqual(s.lrs[s.warmup], s.baseLR, accuracy: 1e-12)
            }
        }
    }
}
