import Foundation
import XCTest
@testable import ReAdapt

/// transformers' outputs for one tiny checkpoint (scripts/fixtures/make_model_fixtures.py).
struct ModelReference: Decodable {
    struct Generation: Decodable {
        var prompt: [Int]
        var maxNewTokens: Int
        var output: [Int]
        enum CodingKeys: String, CodingKey { case prompt, maxNewTokens = "max_new_tokens", output }
    }
    struct PerplexityCase: Decodable {
        var window: Int
        var stride: Int
        var count: Int
        var meanNLL: Double
        var ppl: Double
        enum CodingKeys: String, CodingKey { case window, stride, count, meanNLL = "mean_nll", ppl }
    }
    var vocab: Int
    var sequences: [[Int]]
    var meanNLL: [Double?]
    var generate: Generation
    var perplexitySequence: [Int]
    var perplexity: [PerplexityCase]
    enum CodingKeys: String, CodingKey {
        case vocab, sequences, meanNLL = "mean_nll", generate
        case perplexitySequence = "perplexity_sequence", perplexity
    }
}

enum ModelFixtures {
    static let names = ["llama", "mistral", "qwen2", "gemma", "llama_bias"]

    static func directory(_ name: String) throws -> URL {
        let root = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return root.appendingPathComponent("model").appendingPathComponent(name)
    }

    static func reference(_ name: String) throws -> ModelReference {
        let data = try Data(contentsOf: try directory(name).appendingPathComponent("reference.json"))
        return try JSONDecoder().decode(ModelReference.self, from: data)
    }

    /// Reference logits of sequence `index`, [length × vocab].
    static func logits(_ name: String, _ index: Int) throws -> [Float] {
        let data = try Data(contentsOf: try directory(name).appendingPathComponent("logits_\(index).bin"))
        return data.withUnsafeBytes { raw in Array(raw.bindMemory(to: Float.self)) }
    }

    static func model(_ name: String) throws -> LanguageModel {
        try LanguageModel.load(directory: try directory(name), storage: .f32)
    }
}

func maxAbsDiff(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}
