import Foundation
import XCTest
@testable import ReAdapt

/// `GGUFConverter` and `ModelBundle` on a tiny llama GGUF with a real tokenizer
/// (scripts/fixtures/make_convert_fixtures.py): the written directory holds the original tensors,
/// a config giving the same spec, transformers' tokenizer and chat prompt, and the model gives
/// transformers' logits.
final class GGUFConvertTests: XCTestCase {
    struct Expected: Decodable {
        var text: String
        var ids: [Int]
        var chat_prompt: String
        var sequence: [Int]
        var bos_token_id: Int
        var eos_token_id: Int
        var greedy_ids: [Int]
        var greedy_text: String
    }

    static func fixture(_ name: String) throws -> URL {
        let root = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return root.appendingPathComponent("convert").appendingPathComponent(name)
    }

    static func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: try fixture("expected.json")))
    }

    /// transformers' logits of the model it loads from tiny.gguf, [sequence, vocab].
    static func transformersLogits() throws -> [Float] {
        try Data(contentsOf: try fixture("logits.bin")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// A fresh scratch directory, removed after the test.
    func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("readapt-convert-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func convert(dtype: DType) throws -> URL {
        let output = try scratch().appendingPathComponent("model")
        var seen: [Int] = []
        try GGUFConverter.convert(gguf: try Self.fixture("tiny.gguf"), output: output, dtype: dtype) { i, n, _ in
            seen.append(i)
            XCTAssertEqual(n, 21)
        }
        XCTAssertEqual(seen, Array(1...21))
        return output
    }

    func testF32TensorsEqualTheOriginalExactly() throws {
        let output = try convert(dtype: .f32)
        let written = try SafetensorsFile(url: output.appendingPathComponent("model.safetensors"))
        let original = try SafetensorsFile(url: try Self.fixture("tiny_hf/model.safetensors"))
        XCTAssertEqual(written.tensorNames, original.tensorNames)
        for name in original.tensorNames {
            XCTAssertEqual(written.info(name)?.dtype, .f32)
            XCTAssertEqual(try written.load(name), try original.load(name), name)
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: output.path).sorted()
        XCTAssertEqual(files, ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                               "tokenizer_config.json"])
        // Nothing but the output is left beside it (the staging directory was renamed).
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: output.deletingLastPathComponent().path), ["model"])
    }

    func testHalfTensorsEqualTheRoundedOriginal() throws {
        for (dtype, format) in [(DType.bf16, HalfFormat.bf16), (.f16, .f16)] {
            let output = try convert(dtype: dtype)
            let written = try SafetensorsFile(url: output.appendingPathComponent("model.safetensors"))
            let original = try SafetensorsFile(url: try Self.fixture("tiny_hf/model.safetensors"))
            var anyRounded = false
            for name in original.tensorNames {
                XCTAssertEqual(written.info(name)?.dtype, dtype)
                let exact = try original.load(name).scalars
                let rounded = FloatConversion.widen(FloatConversion.narrow(exact, format: format), format: format)
                XCTAssertEqual(try written.load(name).scalars, rounded, "\(name) \(dtype)")
                anyRounded = anyRounded || rounded != exact
            }
            XCTAssertTrue(anyRounded, "the fixture must have values that \(dtype) rounds")
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("config.json"))) as? [String: Any]
            XCTAssertEqual(config?["dtype"] as? String, dtype == .bf16 ? "bfloat16" : "float16")
        }
    }

    func testConfigRoundTripsToTheOriginalSpec() throws {
        let output = try convert(dtype: .f32)
        let configURL = output.appendingPathComponent("config.json")
        let originalURL = try Self.fixture("tiny_hf/config.json")
        XCTAssertEqual(try ModelSpec(ModelConfig.load(configURL), file: configURL),
                       try ModelSpec(ModelConfig.load(originalURL), file: originalURL))
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any]
        XCTAssertEqual(object?["architectures"] as? [String], ["LlamaForCausalLM"])
        XCTAssertEqual(object?["model_type"] as? String, "llama")
        XCTAssertEqual(object?["dtype"] as? String, "float32")
        let expected = try Self.expected()
        let generation = try JSONSerialization.jsonObject(
            with: Data(contentsOf: output.appendingPathComponent("generation_config.json"))) as? [String: Any]
        XCTAssertEqual(generation?["bos_token_id"] as? Int, expected.bos_token_id)
        XCTAssertEqual(generation?["eos_token_id"] as? Int, expected.eos_token_id)
    }

    func testConvertedDirectoryGivesTransformersLogitsTokensAndChatPrompt() throws {
        let output = try convert(dtype: .f32)
        let expected = try Self.expected()
        let bundle = try ModelBundle(url: output)
        XCTAssertEqual(bundle.kind, .directory)
        XCTAssertEqual(bundle.tokenizer.encode(expected.text), expected.ids)
        XCTAssertEqual(bundle.eosTokenIDs, [expected.eos_token_id])
        let prompt = try bundle.chatTemplate().render([ChatMessage(role: "user", content: expected.text)],
                                                      addGenerationPrompt: true)
        XCTAssertEqual(prompt, expected.chat_prompt)
        let logits = try bundle.loadModel(storage: .f32).makeSession().forward(expected.sequence, allPositions: true)
        let reference = try Self.transformersLogits()
        XCTAssertEqual(logits.count, reference.count)
        XCTAssertLessThanOrEqual(maxAbsDiff(logits[...], reference[...]), 1e-4)
    }

    func testBundleOpensTheGGUFFileDirectly() throws {
        let expected = try Self.expected()
        let bundle = try ModelBundle(url: try Self.fixture("tiny.gguf"))
        XCTAssertEqual(bundle.kind, .gguf)
        XCTAssertEqual(bundle.tokenizer.encode(expected.text), expected.ids)
        XCTAssertEqual(bundle.eosTokenIDs, [expected.eos_token_id])
        XCTAssertEqual(try bundle.chatTemplate().render([ChatMessage(role: "user", content: expected.text)],
                                                        addGenerationPrompt: true), expected.chat_prompt)
        let logits = try bundle.loadModel(storage: .f32).makeSession().forward(expected.sequence, allPositions: true)
        XCTAssertLessThanOrEqual(maxAbsDiff(logits[...], try Self.transformersLogits()[...]), 1e-4)
    }

    func testBundleRefusesMissingPathsAndOtherFiles() throws {
        XCTAssertThrowsError(try ModelBundle(url: URL(fileURLWithPath: "/nonexistent/model.gguf"))) { error in
            XCTAssertEqual(error as? ModelBundleError, .notFound(path: "/nonexistent/model.gguf"))
        }
        let text = try scratch().appendingPathComponent("notes.txt")
        try Data("hi".utf8).write(to: text)
        XCTAssertThrowsError(try ModelBundle(url: text)) { error in
            XCTAssertEqual(error as? ModelBundleError, .notAModel(path: text.path))
            XCTAssertEqual("\(error)", "\(text.path) is neither a model directory nor a .gguf file.")
        }
    }

    func testExistingOutputIsRefusedUnlessReplacing() throws {
        let output = try scratch().appendingPathComponent("model")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        // An empty directory is fine to fill.
        try GGUFConverter.convert(gguf: try Self.fixture("tiny.gguf"), output: output, dtype: .f32)
        let marker = output.appendingPathComponent("config.json")
        let before = try Data(contentsOf: marker)
        XCTAssertThrowsError(try GGUFConverter.convert(gguf: try Self.fixture("tiny.gguf"), output: output)) { error in
            XCTAssertEqual(error as? OutputDirectoryError, .exists(path: output.path))
        }
        XCTAssertEqual(try Data(contentsOf: marker), before)
        try GGUFConverter.convert(gguf: try Self.fixture("tiny.gguf"), output: output, dtype: .bf16, replace: true)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: marker)) as? [String: Any]
        XCTAssertEqual(config?["dtype"] as? String, "bfloat16")
    }

    func testFailedConversionLeavesNoOutput() throws {
        let directory = try scratch()
        let output = directory.appendingPathComponent("model")
        // A truncated file: its header claims more than the file holds.
        let bytes = try Data(contentsOf: try Self.fixture("tiny.gguf"))
        let truncated = directory.appendingPathComponent("truncated.gguf")
        try bytes.prefix(bytes.count / 2).write(to: truncated)
        XCTAssertThrowsError(try GGUFConverter.convert(gguf: truncated, output: output)) { error in
            XCTAssertTrue("\(error)".contains("truncated.gguf"), "\(error)")
        }
        // Missing file.
        XCTAssertThrowsError(try GGUFConverter.convert(gguf: directory.appendingPathComponent("missing.gguf"), output: output))
        // A failure while tensors are being written (the progress callback interrupts) removes the staging directory.
        struct Interrupted: Error {}
        XCTAssertThrowsError(try GGUFConverter.convert(gguf: try Self.fixture("tiny.gguf"), output: output) { i, _, _ in
            if i == 5 { throw Interrupted() }
        }) { error in
            XCTAssertTrue(error is Interrupted, "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["truncated.gguf"])
    }

    func testUnsupportedDTypeIsRefused() throws {
        let output = try scratch().appendingPathComponent("model")
        XCTAssertThrowsError(try GGUFConverter.convert(gguf: try Self.fixture("tiny.gguf"), output: output, dtype: .i32)) { error in
            XCTAssertEqual(error as? GGUFConvertError, .unsupportedDType("I32"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
    }
}
