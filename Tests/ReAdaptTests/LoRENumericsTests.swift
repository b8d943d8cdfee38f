import Foundation
@testable import ReAdapt
import XCTest

/// Singular values, LoRE ranks, factors and the budget allocator against numpy's float64 SVD
/// (scripts/fixtures/make_lore_fixtures.py, Fixtures/lore/cases.* and budget.json).
final class LoRENumericsTests: XCTestCase {
    struct Case: Decodable {
        var shape: [Int]
        var singular_values: [Double]
        var ranks: [String: Int]
        var max_abs: Double
        var randomized_certifies: Bool
    }

    struct Cases: Decodable {
        var taus: [Double]
        var factor_taus: [Double]
        var cases: [String: Case]
    }

    static let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("lore")

    func loadCases() throws -> (Cases, SafetensorsFile) {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent("cases.json"))
        let cases = try JSONDecoder().decode(Cases.self, from: data)
        let tensors = try SafetensorsFile(url: Self.directory.appendingPathComponent("cases.safetensors"))
        XCTAssertEqual(cases.cases.count, 8)
        return (cases, tensors)
    }

    /// The fixture's taus are written by Python's str(); "1.0" for 1.
    func key(_ tau: Double) -> String { tau == 1 ? "1.0" : "\(tau)" }

    func testSingularValuesMatchNumpyWithin1e5OfTheLargest() throws {
        let (fixture, tensors) = try loadCases()
        for (name, reference) in fixture.cases {
            let values = try LowRank.singularValues(try tensors.load(name), name: name)
            XCTAssertEqual(values.count, reference.singular_values.count, name)
            let scale = max(reference.singular_values.first ?? 0, 1e-30)
            for (mine, theirs) in zip(values, reference.singular_values) {
                XCTAssertEqual(mine, theirs, accuracy: 1e-5 * scale, name)
            }
            XCTAssertEqual(values, values.sorted(by: >), "\(name): values must be descending")
        }
    }

    func testRankRuleOnNumpyValuesGivesNumpyRanks() throws {
        let (fixture, _) = try loadCases()
        for (name, reference) in fixture.cases {
            let squares = reference.singular_values.map { $0 * $0 }
            for tau in fixture.taus {
                XCTAssertEqual(LowRank.rank(forExplainedVariance: tau, squaredSingularValues: squares),
                               reference.ranks[key(tau)], "\(name) tau \(tau)")
            }
        }
    }

    /// Both methods choose numpy's rank for every tau; on the cases built for it the randomized
    /// method certifies the rank from its sketch rather than falling back to the exact SVD.
    func testBothMethodsChooseNumpysRanks() throws {
        let (fixture, tensors) = try loadCases()
        for (name, reference) in fixture.cases {
            let delta = try tensors.load(name)
            for tau in fixture.taus {
                for method in SVDMethod.allCases {
                    let factors = try LowRank.factorize(delta, name: name, tau: tau, method: method)
                    XCTAssertEqual(factors.rank, reference.ranks[key(tau)], "\(name) tau \(tau) \(method)")
                    if method == .randomized, reference.randomized_certifies, tau < 1 {
                        XCTAssertEqual(factors.solver, "randomized", "\(name) tau \(tau)")
                    }
                }
            }
        }
    }

    /// Exact factors: ‖B·A − Δ_k(numpy)‖_max ≤ 1e-5·max|Δ| and ‖B·A‖_F² = Σ_{i≤k} s_i² within 1e-6
    /// relative. Randomized factors are the sketch's best rank-k approximation: the same bounds on
    /// the cases whose sketch captures Δ (exactly low rank, fast decay); elsewhere Eckart–Young
    /// and Ky Fan bound what they keep: Σ_{i≤k} s_i² − residual ≤ kept ≤ Σ_{i≤k} s_i².
    /// Inside the plateau (equal singular values) Δ_k is not unique, so there only the kept
    /// variance is compared.
    func testFactorsReproduceNumpysRankKApproximation() throws {
        let (fixture, tensors) = try loadCases()
        var boundedOnly = 0
        for (name, reference) in fixture.cases {
            let delta = try tensors.load(name)
            for tau in fixture.factor_taus {
                let expected = try tensors.load("\(name).delta_k\(tau)")
                for method in SVDMethod.allCases {
                    let factors = try LowRank.factorize(delta, name: name, tau: tau, method: method)
                    let product = multiply(factors)
                    let label = "\(name) tau \(tau) \(method) (\(factors.solver))"
                    let squares = reference.singular_values.map { $0 * $0 }
                    let total = squares.reduce(0, +)
                    let optimal = total > 0 ? squares.prefix(factors.rank).reduce(0, +) / total : 1
                    let productShare = total > 0 ? product.reduce(0.0) { $0 + Double($1) * Double($1) } / total : 1
                    XCTAssertEqual(productShare, factors.explainedVariance, accuracy: 1e-5, label)
                    if factors.solver == "randomized", !reference.randomized_certifies {
                        let residual = try XCTUnwrap(factors.sketchResidualShare)
                        XCTAssertLessThanOrEqual(factors.explainedVariance, optimal + 1e-6, label)
                        XCTAssertGreaterThanOrEqual(factors.explainedVariance, optimal - residual - 1e-6, label)
                        boundedOnly += 1
                        continue
                    }
                    XCTAssertEqual(factors.explainedVariance, optimal, accuracy: 1e-6, label)
                    if name != "plateau" {
                        let worst = zip(product, expected.scalars).map { abs(Double($0) - Double($1)) }.max() ?? 0
                        XCTAssertLessThanOrEqual(worst, 1e-5 * reference.max_abs, label)
                    }
                }
            }
        }
        XCTAssertGreaterThan(boundedOnly, 0, "some noisy case should be certified from a sketch")
    }

    func testZeroMatrixHasRankZeroAndNoFactors() throws {
        let factors = try LowRank.factorize(Tensor(zeros: [16, 24]), name: "z", tau: 0.5, method: .randomized)
        XCTAssertEqual(factors.rank, 0)
        XCTAssertTrue(factors.a.isEmpty && factors.b.isEmpty)
    }

    func testMaxRankCapsAndIsReported() throws {
        let (_, tensors) = try loadCases()
        let factors = try LowRank.factorize(try tensors.load("square_powerlaw"), name: "s", tau: 0.9, maxRank: 2,
                                            method: .exact)
        XCTAssertEqual(factors.rank, 2)
        XCTAssertEqual(factors.selectedRank, 16)
        XCTAssertTrue(factors.rankCapped)
        XCTAssertEqual(factors.a.count, 2 * 40)
    }

    func testFixedRankFactorizationAtNumpysRank() throws {
        let (fixture, tensors) = try loadCases()
        for name in ["lowrank_tall", "geometric_wide", "wide_powerlaw"] {
            let reference = try XCTUnwrap(fixture.cases[name])
            let rank = try XCTUnwrap(reference.ranks["0.9"])
            let expected = try tensors.load("\(name).delta_k0.9")
            for method in SVDMethod.allCases {
                let factors = try LowRank.factorize(try tensors.load(name), name: name, rank: rank, method: method)
                XCTAssertEqual(factors.rank, rank)
                let worst = zip(multiply(factors), expected.scalars).map { abs(Double($0) - Double($1)) }.max() ?? 0
                XCTAssertLessThanOrEqual(worst, 1e-5 * reference.max_abs, "\(name) \(method) \(factors.solver)")
            }
        }
    }

    func testBadInputsAreClearErrorsNamingTheTensor() throws {
        let matrix = Tensor(shape: [3, 4], scalars: (0..<12).map(Float.init))
        XCTAssertThrowsError(try LowRank.factorize(matrix, name: "w", tau: 0.5, maxRank: 0, method: .exact)) {
            XCTAssertEqual($0 as? LowRankError, .invalidMaxRank(0))
        }
        XCTAssertThrowsError(try LowRank.factorize(matrix, name: "layers.0.q_proj.weight", rank: 4, method: .exact)) {
            XCTAssertEqual($0 as? LowRankError, .rankTooLarge(name: "layers.0.q_proj.weight", rank: 4, rows: 3, columns: 4))
            XCTAssertTrue("\($0)".contains("layers.0.q_proj.weight") && "\($0)".contains("at most rank 3"), "\($0)")
        }
        XCTAssertThrowsError(try LowRank.factorize(Tensor(shape: [12], scalars: matrix.scalars), name: "norm.weight",
                                                   tau: 0.5, method: .exact)) {
            XCTAssertEqual($0 as? LowRankError, .notAMatrix(name: "norm.weight", shape: [12]))
        }
        for bad in [Float.nan, .infinity] {
            var broken = matrix
            broken.scalars[5] = bad
            XCTAssertThrowsError(try LowRank.factorize(broken, name: "mlp.up_proj.weight", tau: 0.5, method: .randomized)) {
                XCTAssertEqual($0 as? LowRankError, .nonFinite(name: "mlp.up_proj.weight"))
                XCTAssertTrue("\($0)".contains("'mlp.up_proj.weight'") && "\($0)".contains("NaN"), "\($0)")
            }
        }
        for tau in [0.0, -0.1, 1.5, .nan] {
            XCTAssertThrowsError(try LowRank.factorize(matrix, name: "w", tau: tau, method: .exact), "tau \(tau)")
        }
    }

    struct BudgetCase: Decodable {
        struct Matrix: Decodable { var name: String; var rows: Int; var columns: Int; var squared_singular_values: [Double] }
        var share: Double
        var max_rank: Int?
        var matrices: [Matrix]
        var ranks: [Int]
    }

    /// The allocator equals an independent numpy implementation of the same greedy, never spends
    /// more than the budget, and every matrix left out of a step could not have afforded it.
    func testBudgetAllocationMatchesNumpyAndRespectsTheBudget() throws {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent("budget.json"))
        let cases = try JSONDecoder().decode([BudgetCase].self, from: data)
        XCTAssertEqual(cases.count, 40)
        for (index, budgetCase) in cases.enumerated() {
            let matrices = budgetCase.matrices.map { ($0.name, $0.rows, $0.columns, $0.squared_singular_values) }
            let ranks = LowRank.allocateRanks(share: budgetCase.share, matrices: matrices, maxRank: budgetCase.max_rank)
            XCTAssertEqual(budgetCase.matrices.map { ranks[$0.name] }, budgetCase.ranks, "case \(index)")
            let spent = budgetCase.matrices.reduce(0) { $0 + (ranks[$1.name] ?? 0) * ($1.rows + $1.columns) }
            let full = budgetCase.matrices.reduce(0) { $0 + $1.rows * $1.columns }
            XCTAssertLessThanOrEqual(Double(spent), budgetCase.share * Double(full), "case \(index)")
            if let cap = budgetCase.max_rank { XCTAssertLessThanOrEqual(ranks.values.max() ?? 0, cap) }
        }
        XCTAssertTrue(cases.contains { $0.ranks.contains(0) } && cases.contains { $0.ranks.allSatisfy { $0 > 3 } },
                      "the fixture should exercise both empty and large allocations")
    }

    func multiply(_ factors: LowRankFactorization) -> [Float] {
        var out = [Float](repeating: 0, count: factors.rows * factors.columns)
        guard factors.rank > 0 else { return out }
        for r in 0..<factors.rows {
            for c in 0..<factors.columns {
                var sum = 0.0
                for i in 0..<factors.rank {
                    sum += Double(factors.b[r * factors.rank + i]) * Double(factors.a[i * factors.columns + c])
                }
                out[r * factors.columns + c] = Float(sum)
            }
        }
        return out
    }
}
