import Foundation
import XCTest
@testable import ReAdapt

final class ModelSamplerTests: XCTestCase {
    func testXoshiroIsReproducibleAndSeedDependent() {
        var a = Xoshiro256(seed: 42), b = Xoshiro256(seed: 42), c = Xoshiro256(seed: 43)
        let xa = (0..<5).map { _ in a.next() }, xb = (0..<5).map { _ in b.next() }, xc = (0..<5).map { _ in c.next() }
        XCTAssertEqual(xa, xb)
        XCTAssertNotEqual(xa, xc)
        var u = Xoshiro256(seed: 1)
        let units = (0..<10000).map { _ in u.nextUnit() }
        XCTAssertTrue(units.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(units.reduce(0, +) / 10000, 0.5, accuracy: 0.02)
    }

    func testGreedyIsFirstArgmax() {
        var s = Sampler(.greedy)
        XCTAssertEqual(s.sample([0, 3, 1, 3, -2]), 1)
        XCTAssertEqual(s.sample([-5, -4, -9]), 1)
    }

    func frequencies(_ logits: [Float], _ options: SamplingOptions, draws: Int = 20000) -> [Double] {
        var sampler = Sampler(options)
        var counts = [Double](repeating: 0, count: logits.count)
        for _ in 0..<draws { counts[sampler.sample(logits)] += 1 }
        return counts.map { $0 / Double(draws) }
    }

    func testTemperatureSamplesTheSoftmax() {
        let logits: [Float] = [1, 2, 0.5, -1]
        let t: Float = 0.7
        let e = logits.map { exp(Double($0 / t)) }
        let expected = e.map { $0 / e.reduce(0, +) }
        for (got, want) in zip(frequencies(logits, SamplingOptions(temperature: t, seed: 7)), expected) {
            XCTAssertEqual(got, want, accuracy: 0.015)
        }
    }

    func testTopKKeepsOnlyTheKMostLikely() {
        let logits: [Float] = [1, 2, 0.5, 3, -1]
        let f = frequencies(logits, SamplingOptions(temperature: 1, topK: 2, seed: 3))
        XCTAssertEqual(f[0] + f[2] + f[4], 0)
        let p3 = exp(3.0) / (exp(3.0) + exp(2.0))
        XCTAssertEqual(f[3], p3, accuracy: 0.015)
        XCTAssertEqual(frequencies(logits, SamplingOptions(temperature: 1, topK: 1, seed: 3), draws: 200)[3], 1)
        // Tokens tied with the k-th logit stay, as TopKLogitsWarper's `scores < kth` test keeps them.
        let tied = frequencies([1, 2, 2, 0], SamplingOptions(temperature: 1, topK: 1, seed: 3), draws: 2000)
        XCTAssertEqual(tied[0] + tied[3], 0)
        XCTAssertEqual(tied[1], 0.5, accuracy: 0.05)
        // The heap selection agrees with sorting.
        var heap: [Float] = []
        let values: [Float] = (0..<1000).map { _ in Float.random(in: -5...5) }
        for k in [1, 2, 17, 999, 1000] {
            let kth = values.withUnsafeBufferPointer { Sampler.kthLargest($0, k: k, heap: &heap) }
            XCTAssertEqual(kth, values.sorted(by: >)[k - 1])
        }
    }

    func testTopPKeepsTheSmallestNucleusLikeTopPLogitsWarper() {
        // Probabilities 0.5, 0.3, 0.15, 0.05: with p = 0.75 TopPLogitsWarper removes the tokens whose
        // ascending cumulative probability is <= 0.25 (0.05 and 0.15), keeping 0.5 and 0.3.
        let probs = [0.5, 0.3, 0.15, 0.05]
        let logits = probs.map { Float(log($0)) }
        let f = frequencies(logits, SamplingOptions(temperature: 1, topP: 0.75, seed: 11))
        XCTAssertEqual(f[2] + f[3], 0)
        XCTAssertEqual(f[0], 0.5 / 0.8, accuracy: 0.015)
        // A tiny p still keeps the most likely token.
        XCTAssertEqual(frequencies(logits, SamplingOptions(temperature: 1, topP: 0.01, seed: 11), draws: 200)[0], 1)
        // p = 0.9: 0.05 + 0.15 = 0.2 > 0.1, so only the 0.05 token goes.
        let g = frequencies(logits, SamplingOptions(temperature: 1, topP: 0.9, seed: 5))
        XCTAssertEqual(g[3], 0)
        XCTAssertEqual(g[2], 0.15 / 0.95, accuracy: 0.015)
    }

    func testSeededSamplingIsReproducible() throws {
        let model = try ModelFixtures.model("llama")
        let prompt = try ModelFixtures.reference("llama").generate.prompt
        let options = SamplingOptions(temperature: 1.5, topK: 50, topP: 0.95, seed: 1234)
        let a = try Generator(model: model, eosTokenIDs: [], sampling: options).generate(prompt: prompt, maxTokens: 15)
        let b = try Generator(model: model, eosTokenIDs: [], sampling: options).generate(prompt: prompt, maxTokens: 15)
        XCTAssertEqual(a.tokens, b.tokens)
        XCTAssertEqual(a.tokens.count, 15)
        var other = options
        other.seed = 99
        let c = try Generator(model: model, eosTokenIDs: [], sampling: other).generate(prompt: prompt, maxTokens: 15)
        XCTAssertNotEqual(a.tokens, c.tokens)
    }
}
