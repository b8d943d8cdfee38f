import Foundation
import XCTest
import ReAdapt

/// End to end on the checkpoint shipped in Examples/tiny-biographies (the README's main job):
/// tokenizer ids, greedy generation and NLL against transformers
/// (scripts/fixtures/make_example_fixtures.py), with F32 weights.
final class ExampleModelTests: XCTestCase {
    struct Reference: Decodable {
        struct Case: Decodable {
            var prompt: String
            var prompt_ids: [Int]
            var greedy_ids: [Int]
            var greedy_text: String
        }
        struct Score: Decodable {
            var text: String
            var ids: [Int]
            var scored_tokens: Int
            var mean_nll: Double
        }
        var generation: [Case]
        var perplexity: Score
    }

    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Examples/tiny-biographies")

    func reference() throws -> Reference {
        let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
            .appendingPathComponent("example/reference.json")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    func testGreedyGenerationMatchesTransformers() throws {
        let reference = try reference()
        let tokenizer = try Tokenizer(directory: Self.directory)
        let model = try LanguageModel.load(directory: Self.directory, storage: .f32)
        let eos = try LanguageModel.eosTokenIDs(directory: Self.directory, spec: model.spec)
        let generator = Generator(model: model, eosTokenIDs: eos)
        for item in reference.generation {
            XCTAssertEqual(tokenizer.encode(item.prompt), item.prompt_ids, item.prompt)
            let result = try generator.generate(prompt: item.prompt_ids, maxTokens: item.greedy_ids.count)
            XCTAssertEqual(result.tokens, item.greedy_ids, item.prompt)
            XCTAssertEqual(tokenizer.decode(result.tokens), item.greedy_text, item.prompt)
            var stream = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: true)
            let streamed = result.tokens.map { stream.append($0) }.joined() + stream.finish()
            XCTAssertEqual(streamed, tokenizer.decode(result.tokens, skipSpecialTokens: true), item.prompt)
        }
    }

    func testMeanNLLMatchesTransformers() throws {
        let score = try reference().perplexity
        let tokenizer = try Tokenizer(directory: Self.directory)
        let model = try LanguageModel.load(directory: Self.directory, storage: .f32)
        XCTAssertEqual(tokenizer.encode(score.text), score.ids)
        let result = try Perplexity.score(model: model, tokens: score.ids)
        XCTAssertEqual(result.scoredTokens, score.scored_tokens)
        // transformers' loss is an F32 mean; ours accumulates in Double.
        XCTAssertEqual(result.meanNLL, score.mean_nll, accuracy: 1e-5)
    }
}
