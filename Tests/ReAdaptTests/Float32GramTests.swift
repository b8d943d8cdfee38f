import Foundation
@testable import ReAdapt
import XCTest

/// The exact path's Float32 Gram (Float32Gram): its certificate against numpy's float64 SVD
/// (Fixtures/lore/cases.*), its refined factors against numpy's Δ_k, and a tie it must refuse.
final class Float32GramTests: XCTestCase {
    typealias Cases = LoRENumericsTests.Cases

    func loadCases() throws -> (Cases, SafetensorsFile) {
        let data = try Data(contentsOf: LoRENumericsTests.directory.appendingPathComponent("cases.json"))
        let cases = try JSONDecoder().decode(Cases.self, from: data)
        return (cases, try SafetensorsFile(url: LoRENumericsTests.directory.appendingPathComponent("cases.safetensors")))
    }

    func key(_ tau: Double) -> String { tau == 1 ? "1.0" : "\(tau)" }

    func multiply(_ factors: LowRankFactorization) -> [Float] {
        var out = [Float](repeating: 0, count: factors.rows * factors.columns)
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

    /// Every certified rank is numpy's, the error bound the certificate uses holds for every
    /// partial sum of numpy's values, and most decisions are certified.
    func testCertifiedRanksAreNumpysAndTheBoundHolds() throws {
        let (fixture, tensors) = try loadCases()
        var certified = 0, decisions = 0
        for (name, reference) in fixture.cases {
            let delta = try tensors.load(name)
            let total = try LowRank.squaredNorm(delta, name: name)
            let spectrum = try delta.scalars.withUnsafeBufferPointer {
                try Float32Gram.spectrum(rows: delta.shape[0], columns: delta.shape[1], matrix: $0.baseAddress!)
            }
            let bound = Float32Gram.perturbationBound(spectrum, total: total)
            var computed = 0.0, exact = 0.0
            for (j, square) in reference.singular_values.map({ $0 * $0 }).enumerated() {
                computed += spectrum.values[j]
                exact += square
                XCTAssertLessThanOrEqual(abs(computed - exact), Double(j + 1).squareRoot() * bound, "\(name) sum to \(j + 1)")
            }
            for tau in fixture.taus where tau < 1 {
                decisions += 1
                guard let rank = Float32Gram.certifiedRank(spectrum, tau: tau, total: total) else { continue }
                certified += 1
                XCTAssertEqual(rank, reference.ranks[key(tau)], "\(name) tau \(tau)")
            }
        }
        XCTAssertGreaterThan(certified, decisions / 2, "the certificate should decide most fixture ranks")
    }

    /// The Float64 Rayleigh–Ritz refinement of Float32 vectors reproduces numpy's Δ_k within
    /// 1e-5·max|Δ| (the exact path's tolerance), whether or not LowRank would take this route.
    func testRefinedFactorsReproduceNumpysRankKApproximation() throws {
        let (fixture, tensors) = try loadCases()
        var checked = 0
        for (name, reference) in fixture.cases where name != "plateau" {
            let delta = try tensors.load(name)
            let spectrum = try delta.scalars.withUnsafeBufferPointer {
                try Float32Gram.spectrum(rows: delta.shape[0], columns: delta.shape[1], matrix: $0.baseAddress!)
            }
            for tau in fixture.factor_taus {
                let rank = try XCTUnwrap(reference.ranks[key(tau)])
                guard rank > 0 else { continue }
                let expected = try tensors.load("\(name).delta_k\(tau)")
                let (a, b, kept) = try delta.scalars.withUnsafeBufferPointer {
                    try Float32Gram.factors(spectrum, matrix: $0.baseAddress!, rank: rank)
                }
                let factors = LowRankFactorization(rows: delta.shape[0], columns: delta.shape[1], rank: rank, a: a, b: b,
                                                   totalVariance: 1, explainedVariance: kept, selectedRank: rank,
                                                   solver: "exact", sketchColumns: nil, sketchResidualShare: nil)
                let worst = zip(multiply(factors), expected.scalars).map { abs(Double($0) - Double($1)) }.max() ?? 0
                XCTAssertLessThanOrEqual(worst, 1e-5 * reference.max_abs, "\(name) tau \(tau) rank \(rank)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 5)
    }

    /// τ·T exactly on a cumulative sum (singular values 1, 1, 1, 1 at τ = 0.5) is a tie no rounding
    /// bound can settle: not certified, and LowRank's exact path still answers numpy's rank 2.
    func testATieAtTauIsNotCertified() throws {
        var identity = Tensor(shape: [4, 4], scalars: [Float](repeating: 0, count: 16))
        for i in 0..<4 { identity.scalars[i * 4 + i] = 1 }
        let spectrum = try identity.scalars.withUnsafeBufferPointer {
            try Float32Gram.spectrum(rows: 4, columns: 4, matrix: $0.baseAddress!)
        }
        XCTAssertNil(Float32Gram.certifiedRank(spectrum, tau: 0.5, total: 4))
        XCTAssertEqual(Float32Gram.certifiedRank(spectrum, tau: 0.4, total: 4), 2)
        let factors = try LowRank.factorize(identity, name: "identity", tau: 0.5, method: .exact)
        XCTAssertEqual(factors.rank, 2)
        XCTAssertTrue(factors.float64Fallback)
    }

    /// Outputs come back in index order whatever order the workers finish in, and the first
    /// error is rethrown after the started jobs finish.
    func testOrderedPipelineKeepsOrderAndRethrows() throws {
        var seen: [Int] = []
        try OrderedPipeline.run(count: 40, workers: 3, load: { $0 }, work: { i -> Int in
            usleep(UInt32((i * 7919) % 5) * 300)
            return i * i
        }, consume: { i, square in
            XCTAssertEqual(square, i * i)
            seen.append(i)
        })
        XCTAssertEqual(seen, Array(0..<40))

        struct Boom: Error {}
        var consumed = 0
        XCTAssertThrowsError(try OrderedPipeline.run(count: 20, workers: 2, load: { $0 }, work: { i -> Int in
            if i == 7 { throw Boom() }
            return i
        }, consume: { _, _ in consumed += 1 })) { XCTAssertTrue($0 is Boom) }
        XCTAssertEqual(consumed, 7)
    }
}
