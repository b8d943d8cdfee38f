import Foundation
import XCTest
@testable import ReAdapt

/// Bootstrap intervals against scripts/fixtures/make_metric_fixtures.py, which replays the same
/// SplitMix64 index stream in Python and takes quantiles with numpy.quantile ("linear"). Tolerance
/// 1e-12 absolute (sums are sequential in both; only numpy's quantile arithmetic could differ).
final class BootstrapTests: XCTestCase {
    struct Fixture: Decodable {
        var bootstrap: [Entry]
        var paired: Paired
    }

    struct Entry: Decodable {
        var name: String
        var scores: [Double]
        var seed: UInt64
        var resamples: Int
        var mean, lower, upper: Double
    }

    struct Paired: Decodable {
        var a, b: [Double]
        var seed: UInt64
        var resamples: Int
        var mean, lower, upper: Double
    }

    static func fixture() throws -> Fixture {
        let root = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let data = try Data(contentsOf: root.appendingPathComponent("eval").appendingPathComponent("metrics.json"))
        return try JSONDecoder().decode(Fixture.self, from: data)
    }

    func testSplitMix64MatchesPublishedSequence() {
        // First outputs for seed 1234567 from the reference C implementation (Vigna's splitmix64.c).
        var rng = SplitMix64(seed: 1_234_567)
        XCTAssertEqual(rng.next(), 6_457_827_717_110_365_317)
        XCTAssertEqual(rng.next(), 3_203_168_211_198_807_973)
        XCTAssertEqual(rng.next(), 9_817_491_932_198_370_423)
    }

    func testIntervalsMatchNumpyReference() throws {
        for e in try Self.fixture().bootstrap {
            let got = try Bootstrap.meanInterval(e.scores, resamples: e.resamples, seed: e.seed)
            XCTAssertEqual(got.mean, e.mean, accuracy: 1e-12, e.name)
            XCTAssertEqual(got.lower, e.lower, accuracy: 1e-12, e.name)
            XCTAssertEqual(got.upper, e.upper, accuracy: 1e-12, e.name)
            XCTAssertLessThanOrEqual(got.lower, got.mean, e.name)
            XCTAssertGreaterThanOrEqual(got.upper, got.mean, e.name)
        }
    }

    func testPairedDifferenceMatchesNumpyReference() throws {
        let p = try Self.fixture().paired
        let got = try Bootstrap.pairedDifference(p.a, p.b, resamples: p.resamples, seed: p.seed)
        XCTAssertEqual(got.mean, p.mean, accuracy: 1e-12)
        XCTAssertEqual(got.lower, p.lower, accuracy: 1e-12)
        XCTAssertEqual(got.upper, p.upper, accuracy: 1e-12)
        XCTAssertLessThan(got.lower, got.upper)
    }

    func testDeterministicForASeedAndDifferentAcrossSeeds() throws {
        let scores = (0..<100).map { Double(($0 * 37) % 11) / 10 }
        let a = try Bootstrap.meanInterval(scores, seed: 5)
        let b = try Bootstrap.meanInterval(scores, seed: 5)
        let c = try Bootstrap.meanInterval(scores, seed: 6)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertEqual(a.mean, c.mean)
    }

    func testWidthShrinksWithMoreQuestions() throws {
        func width(_ n: Int) throws -> Double {
            let scores = (0..<n).map { Double($0 % 2) }  // half right, half wrong
            let i = try Bootstrap.meanInterval(scores, resamples: 2000, seed: 9)
            XCTAssertLessThanOrEqual(i.lower, 0.5)
            XCTAssertGreaterThanOrEqual(i.upper, 0.5)
            return i.upper - i.lower
        }
        let w100 = try width(100), w1600 = try width(1600)
        // The width scales as 1/sqrt(n): 16x the questions, about a quarter of the width.
        XCTAssertLessThan(w1600, w100 / 3)
        XCTAssertGreaterThan(w1600, w100 / 5)
        XCTAssertEqual(w100, 2 * 1.96 * (0.25 / 100).squareRoot(), accuracy: 0.03)
    }

    func testIdenticalListsHaveZeroDifferenceExactly() throws {
        let scores = (0..<50).map { Double($0 % 3) / 2 }
        let d = try Bootstrap.pairedDifference(scores, scores, seed: 3)
        XCTAssertEqual(d.mean, 0)
        XCTAssertEqual(d.lower, 0)
        XCTAssertEqual(d.upper, 0)
    }

    func testPairedByIDMatchesIdsNotOrder() throws {
        let a = ["q1": 1.0, "q2": 0.0, "q3": 1.0]
        let b = ["q3": 0.0, "q1": 1.0, "q2": 0.0]
        let d = try Bootstrap.pairedDifference(byID: a, b, seed: 1)
        XCTAssertEqual(d.mean, 1.0 / 3, accuracy: 1e-15)
        let ordered = try Bootstrap.pairedDifference([1, 0, 1], [1, 0, 0], seed: 1)
        XCTAssertEqual(d, ordered)
        XCTAssertThrowsError(try Bootstrap.pairedDifference(byID: a, ["q1": 1, "q2": 0, "q4": 1])) { error in
            guard case .idMismatch = error as? BootstrapError else { return XCTFail("\(error)") }
        }
    }

    func testBadInputsAreTypedErrors() {
        XCTAssertThrowsError(try Bootstrap.meanInterval([])) { XCTAssertEqual($0 as? BootstrapError, .noScores) }
        XCTAssertThrowsError(try Bootstrap.meanInterval([1], resamples: 0)) {
            XCTAssertEqual($0 as? BootstrapError, .invalidResamples(0))
        }
        XCTAssertThrowsError(try Bootstrap.meanInterval([1], confidence: 1)) {
            XCTAssertEqual($0 as? BootstrapError, .invalidConfidence(1))
        }
        XCTAssertThrowsError(try Bootstrap.pairedDifference([1, 2], [1])) {
            XCTAssertEqual($0 as? BootstrapError, .lengthMismatch(first: 2, second: 1))
        }
    }
}

final class QAScoreSummaryTests: XCTestCase {
    func testSummaryAveragesEachMetricWithItsOwnInterval() throws {
        let scores = [
            try QAMetrics.score(response: "Paris, France", golds: ["Paris"]),
            try QAMetrics.score(response: "London", golds: ["Paris"]),
            try QAMetrics.score(response: "paris", golds: ["Paris"]),
        ]
        let s = try QAScoreSummary(scores: scores, seed: 4)
        XCTAssertEqual(s.count, 3)
        XCTAssertEqual(s.contains.mean, 2.0 / 3, accuracy: 1e-15)
        XCTAssertEqual(s.exactMatch.mean, 1.0 / 3, accuracy: 1e-15)
        XCTAssertEqual(s.f1.mean, (2.0 / 3 + 0 + 1) / 3, accuracy: 1e-15)
        XCTAssertEqual(s.rougeLRecall, try Bootstrap.meanInterval(scores.map(\.rougeLRecall), seed: 4))
        XCTAssertThrowsError(try QAScoreSummary(scores: []))
    }
}
