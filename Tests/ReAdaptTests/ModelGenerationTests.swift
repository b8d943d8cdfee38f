import XCTest
@testable import ReAdapt

/// Greedy generation, NLL and strided perplexity against transformers on the tiny checkpoints.
final class ModelGenerationTests: XCTestCase {
    func testGreedyGenerationMatchesTransformersGenerate() throws {
        for name in ModelFixtures.names {
            let directory = try ModelFixtures.directory(name)
            let model = try ModelFixtures.model(name)
            let reference = try ModelFixtures.reference(name)
            let eos = try LanguageModel.eosTokenIDs(directory: directory, spec: model.spec)
            var streamed: [Int] = []
            let result = try Generator(model: model, eosTokenIDs: eos)
                .generate(prompt: reference.generate.prompt, maxTokens: reference.generate.maxNewTokens) {
                    streamed.append($0)
                }
            XCTAssertEqual(result.tokens, reference.generate.output, name)
            XCTAssertEqual(streamed, result.tokens, name)
            XCTAssertEqual(result.stopReason, .maxTokens, name)
            XCTAssertEqual(result.promptTokens, reference.generate.prompt.count)
            XCTAssertGreaterThan(result.prefillSeconds, 0)
        }
    }

    func testGenerationStopsAtAnyEOSIdAndKeepsIt() throws {
        let model = try ModelFixtures.model("mistral")
        let reference = try ModelFixtures.reference("mistral")
        let expected = reference.generate.output
        let result = try Generator(model: model, eosTokenIDs: [999, expected[4]])
            .generate(prompt: reference.generate.prompt, maxTokens: 20)
        let firstStop = expected.firstIndex(of: expected[4])!
        XCTAssertEqual(result.tokens, Array(expected[...firstStop]))
        XCTAssertEqual(result.stopReason, .endOfSequence)
    }

    func testGenerationStopsWhenTheContextIsFull() throws {
        let model = try ModelFixtures.model("gemma")
        let prompt = try ModelFixtures.reference("gemma").generate.prompt
        let result = try Generator(model: model, eosTokenIDs: [], capacity: prompt.count + 3)
            .generate(prompt: prompt, maxTokens: 20)
        XCTAssertEqual(result.tokens.count, 4)  // 3 more positions, and the last token needs none
        XCTAssertEqual(result.stopReason, .contextFull)
    }

    func testEOSIdsComeFromGenerationConfigThenConfig() throws {
        let llama = try ModelFixtures.model("llama")
        XCTAssertEqual(try LanguageModel.eosTokenIDs(directory: try ModelFixtures.directory("llama"), spec: llama.spec), [2, 7])
        XCTAssertEqual(llama.spec.eosTokenIDs, [2])
        let qwen = try ModelFixtures.model("qwen2")
        XCTAssertEqual(try LanguageModel.eosTokenIDs(directory: try ModelFixtures.directory("qwen2"), spec: qwen.spec), [3])
    }

    func testMeanNLLMatchesTransformers() throws {
        for name in ModelFixtures.names {
            let model = try ModelFixtures.model(name)
            let reference = try ModelFixtures.reference(name)
            for (sequence, expected) in zip(reference.sequences, reference.meanNLL) {
                guard let expected else { continue }
                let nll = try Perplexity.meanNLL(model: model, tokens: sequence)
                XCTAssertEqual(nll, expected, accuracy: 1e-4, name)
            }
        }
    }

    func testStridedPerplexityMatchesTheHuggingFaceProcedure() throws {
        for name in ModelFixtures.names {
            let model = try ModelFixtures.model(name)
            let reference = try ModelFixtures.reference(name)
            for case_ in reference.perplexity {
                let result = try Perplexity.score(model: model, tokens: reference.perplexitySequence,
                                                  window: case_.window, stride: case_.stride)
                XCTAssertEqual(result.scoredTokens, case_.count, name)
                XCTAssertEqual(result.meanNLL, case_.meanNLL, accuracy: 1e-4 * case_.meanNLL, name)
                XCTAssertEqual(result.perplexity, case_.ppl, accuracy: 1e-4 * case_.ppl, name)
            }
        }
        // Default window = max_position_embeddings (32 here), stride = window.
        let model = try ModelFixtures.model("qwen2")
        let reference = try ModelFixtures.reference("qwen2")
        let byDefault = try Perplexity.score(model: model, tokens: reference.perplexitySequence)
        let explicit = reference.perplexity.first { $0.window == 32 && $0.stride == 32 }!
        XCTAssertEqual(byDefault.meanNLL, explicit.meanNLL, accuracy: 1e-4 * explicit.meanNLL)
        XCTAssertEqual(byDefault.forwardTokens, reference.perplexitySequence.count)
    }

    func testPerplexityRefusesBadSettings() throws {
        let model = try ModelFixtures.model("qwen2")
        XCTAssertThrowsError(try Perplexity.score(model: model, tokens: [1])) {
            XCTAssertEqual($0 as? PerplexityError, .tooFewTokens(count: 1))
        }
        XCTAssertThrowsError(try Perplexity.score(model: model, tokens: [1, 2, 3], window: 4, stride: 5)) {
            XCTAssertEqual($0 as? PerplexityError, .invalidWindow(window: 4, stride: 5))
        }
    }
}
