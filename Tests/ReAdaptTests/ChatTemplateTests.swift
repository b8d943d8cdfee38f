import XCTest
@testable import ReAdapt

/// Real chat templates rendered against transformers' apply_chat_template
/// (scripts/fixtures/make_chat_template_fixtures.py); strings compared exactly.
final class ChatTemplateTests: XCTestCase {
    static let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
        .appendingPathComponent("chat_templates")

    func testRealTemplatesMatchTransformers() throws {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent("cases.json"))
        guard case .array(let cases) = try JSONValue.parse(data) else { return XCTFail("cases.json is not a list") }
        XCTAssertGreaterThanOrEqual(cases.count, 90)
        var compiled: [String: ChatTemplate] = [:]
        var errorsChecked = 0, renderingsChecked = 0
        for c in cases {
            let name = try XCTUnwrap(c["template"]?.string)
            let label = "\(name)/\(c["conversation"]?.string ?? "?")/gen=\(c["add_generation_prompt"]?.bool ?? false)"
            if compiled[name] == nil {
                let source = try String(contentsOf: Self.directory.appendingPathComponent(name + ".jinja"), encoding: .utf8)
                compiled[name] = try ChatTemplate(source: source)
            }
            var template = compiled[name]!
            template.specialTokens = [:]
            if let bos = c["bos_token"]?.string { template.specialTokens["bos_token"] = bos }
            if let eos = c["eos_token"]?.string { template.specialTokens["eos_token"] = eos }
            let messages = try XCTUnwrap(c["messages"]?.array).map(JinjaValue.init)
            var extra: [String: JinjaValue] = [:]
            for (k, v) in c["extra"]?.members ?? [] { extra[k] = JinjaValue(v) }
            let generationPrompt = c["add_generation_prompt"]?.bool ?? false
            if let expected = c["expected"]?.string {
                XCTAssertEqual(try template.render(messages: messages, addGenerationPrompt: generationPrompt, extraContext: extra),
                               expected, label)
                renderingsChecked += 1
            } else {
                let message = try XCTUnwrap(c["error"]?.string)
                XCTAssertThrowsError(try template.render(messages: messages, addGenerationPrompt: generationPrompt, extraContext: extra), label) {
                    XCTAssertEqual($0 as? JinjaError, .raised(message), label)
                    XCTAssertEqual(($0 as? JinjaError)?.description, message, label)
                }
                errorsChecked += 1
            }
        }
        XCTAssertEqual(errorsChecked, 16)
        XCTAssertEqual(renderingsChecked, cases.count - 16)
    }

    func testChatMessageRenderingMatchesSmolLM2() throws {
        let source = try String(contentsOf: Self.directory.appendingPathComponent("smollm2-135m-instruct.jinja"), encoding: .utf8)
        let template = try ChatTemplate(source: source, specialTokens: ["bos_token": "<|im_start|>", "eos_token": "<|im_end|>"])
        let text = try template.render([ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
        XCTAssertEqual(text, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
                       + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    }

    func testLoadsFromTokenizerConfigAndJinjaFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("chat-template-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("tokenizer_config.json")
        try """
        {"bos_token": {"content": "<s>", "lstrip": false, "__type": "AddedToken"}, "eos_token": "</s>",
         "chat_template": [{"name": "default", "template": "{{ bos_token }}D{{ messages[0].content }}{{ eos_token }}"},
                           {"name": "tool_use", "template": "T{{ messages | length }}"}]}
        """.write(to: config, atomically: true, encoding: .utf8)
        let hi = [ChatMessage(role: "user", content: "hi")]
        XCTAssertEqual(try ChatTemplate(tokenizerConfig: config).render(hi, addGenerationPrompt: false), "<s>Dhi</s>")
        XCTAssertEqual(try ChatTemplate(tokenizerConfig: config, name: "tool_use").render(hi, addGenerationPrompt: false), "T1")
        XCTAssertEqual(try ChatTemplate(directory: dir).render(hi, addGenerationPrompt: false), "<s>Dhi</s>")
        XCTAssertThrowsError(try ChatTemplate(tokenizerConfig: config, name: "rag")) {
            XCTAssertTrue("\($0)".contains("no chat template named 'rag'"), "\($0)")
        }
        // chat_template.jinja takes precedence, with tokens still from tokenizer_config.json.
        try "J{{ eos_token }}".write(to: dir.appendingPathComponent("chat_template.jinja"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try ChatTemplate(directory: dir).render(hi, addGenerationPrompt: false), "J</s>")
    }

    func testLoadErrorsNameTheFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("chat-template-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("tokenizer_config.json")
        XCTAssertThrowsError(try ChatTemplate(tokenizerConfig: config)) { XCTAssertTrue("\($0)".contains(config.path)) }
        try "{\"eos_token\": \"x\"}".write(to: config, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ChatTemplate(directory: dir)) { XCTAssertTrue("\($0)".contains("has no chat template"), "\($0)") }
        try "{\"chat_template\": \"{% if x %}oops\"}".write(to: config, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ChatTemplate(tokenizerConfig: config)) {
            XCTAssertTrue("\($0)".contains(config.path) && "\($0)".contains("endif"), "\($0)")
        }
        try "{\"chat_template\": ".write(to: config, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ChatTemplate(tokenizerConfig: config)) { XCTAssertTrue("\($0)".contains("not valid JSON"), "\($0)") }
    }
}
