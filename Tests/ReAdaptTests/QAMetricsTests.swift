import Foundation
import XCTest
@testable import ReAdapt

/// QAMetrics against scripts/fixtures/make_metric_fixtures.py (SQuAD's normalisation and metrics
/// restated in Python, run by CPython 3 with its Unicode tables). Tolerance: normalised strings
/// identical scalar for scalar; scores identical doubles (same operation order), checked at 1e-12.
final class QAMetricsTests: XCTestCase {
    struct Fixture: Decodable {
        var cases: [Case]
    }

    struct Case: Decodable {
        var name, response: String
        var golds: [String]
        var normalizedResponse: String
        var normalizedGolds: [String]
        var contains, rougeLRecall, em, f1: Double
        enum CodingKeys: String, CodingKey {
            case name, response, golds, contains, em, f1
            case normalizedResponse = "normalized_response", normalizedGolds = "normalized_golds"
            case rougeLRecall = "rougeL_recall"
        }
    }

    static func fixture() throws -> Fixture {
        let root = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let data = try Data(contentsOf: root.appendingPathComponent("eval").appendingPathComponent("metrics.json"))
        return try JSONDecoder().decode(Fixture.self, from: data)
    }

    func scalars(_ s: String) -> [UInt32] { s.unicodeScalars.map(\.value) }

    func testNormalizationMatchesSQuADReferenceScalarForScalar() throws {
        let cases = try Self.fixture().cases
        XCTAssertGreaterThanOrEqual(cases.count, 40)
        for c in cases {
            XCTAssertEqual(scalars(QAMetrics.normalize(c.response).string), scalars(c.normalizedResponse), c.name)
            for (gold, expected) in zip(c.golds, c.normalizedGolds) {
                XCTAssertEqual(scalars(QAMetrics.normalize(gold).string), scalars(expected), c.name)
            }
        }
    }

    func testScoresMatchReferenceOnEveryEdgeCase() throws {
        for c in try Self.fixture().cases {
            let s = try QAMetrics.score(response: c.response, golds: c.golds)
            XCTAssertEqual(s.contains, c.contains, accuracy: 1e-12, "contains: \(c.name)")
            XCTAssertEqual(s.rougeLRecall, c.rougeLRecall, accuracy: 1e-12, "rougeL_recall: \(c.name)")
            XCTAssertEqual(s.exactMatch, c.em, accuracy: 1e-12, "em: \(c.name)")
            XCTAssertEqual(s.f1, c.f1, accuracy: 1e-12, "f1: \(c.name)")
        }
    }

    /// The fixture must exercise every branch: each metric takes both 0 and 1 and some value strictly
    /// between (except contains/em, which are binary), so a metric stuck at a constant fails here.
    func testFixtureCoversDistinctOutcomes() throws {
        let cases = try Self.fixture().cases
        for values in [cases.map(\.contains), cases.map(\.em)] {
            XCTAssertEqual(Set(values), [0, 1])
        }
        for values in [cases.map(\.rougeLRecall), cases.map(\.f1)] {
            XCTAssertTrue(values.contains(0) && values.contains(1) && values.contains { $0 > 0 && $0 < 1 })
        }
    }

    /// Canonically equivalent spellings stay different (Python compares code points), while Swift's
    /// String == would call them equal.
    func testPrecomposedAndDecomposedAccentsAreDifferentAnswers() throws {
        XCTAssertEqual("caf\u{e9}", "cafe\u{301}")  // Swift's Character semantics…
        let s = try QAMetrics.score(response: "cafe\u{301}", golds: ["caf\u{e9}"])
        XCTAssertEqual(s.exactMatch, 0)  // …are not used by the metrics.
        XCTAssertEqual(s.contains, 0)
    }

    func testNoGoldAnswersIsATypedError() {
        XCTAssertThrowsError(try QAMetrics.score(response: "x", golds: [])) { error in
            XCTAssertEqual(error as? QAMetricsError, .noGoldAnswers)
            XCTAssertFalse("\(error)".isEmpty)
        }
    }

    func testGreekFinalSigmaFollowsPythonLower() {
        XCTAssertEqual(QAMetrics.normalize("ΟΔΟΣ").string, "οδος")
        XCTAssertEqual(QAMetrics.normalize("ΣΑ").string, "σα")
        XCTAssertEqual(QAMetrics.normalize("Σ").string, "σ")
    }
}
