import XCTest
@testable import ReAdapt

/// Jinja corners rendered by the exact environment transformers builds
/// (scripts/fixtures/make_jinja_corner_fixtures.py), compared exactly, plus the errors this
/// interpreter gives for constructs it does not handle.
final class JinjaCornerTests: XCTestCase {
    func render(_ template: String, _ context: [String: JinjaValue] = [:]) throws -> String {
        try JinjaInterpreter(globals: ChatTemplate.builtins().merging(context) { $1 }).render(try JinjaParser.parse(template))
    }

    func testCornersMatchTransformersJinja() throws {
        let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
            .appendingPathComponent("chat_templates/corners.json")
        guard case .array(let cases) = try JSONValue.parse(Data(contentsOf: url)) else { return XCTFail("corners.json is not a list") }
        XCTAssertGreaterThanOrEqual(cases.count, 45)
        for c in cases {
            let template = try XCTUnwrap(c["template"]?.string)
            var context: [String: JinjaValue] = [:]
            for (k, v) in c["context"]?.members ?? [] { context[k] = JinjaValue(v) }
            if let expected = c["expected"]?.string {
                XCTAssertEqual(try render(template, context), expected, template)
            } else {
                let message = try XCTUnwrap(c["error"]?.string)
                XCTAssertThrowsError(try render(template, context), template) { error in
                    // raise_exception carries the template's message verbatim; other errors name the problem.
                    if case .raised(let m)? = error as? JinjaError { XCTAssertEqual(m, message) }
                    else { XCTAssertTrue("\(error)".contains("undefined"), "\(error) vs \(message)") }
                }
            }
        }
    }

    func testUnsupportedConstructsNameTheConstructAndLine() {
        let cases: [(String, String)] = [
            ("a\n{% include 'x.jinja' %}", "'include' statement on line 2"),
            ("{{ x | wordcount }}", "filter 'wordcount' on line 1"),
            ("\n\n{{ 'abc'.zfill(5) }}", "method 'zfill' on a string on line 3"),
            ("{{ 1 is prime }}", "test 'prime' on line 1"),
        ]
        for (template, fragment) in cases {
            XCTAssertThrowsError(try render(template), template) { XCTAssertTrue("\($0)".contains(fragment), "\($0)") }
        }
    }

    func testSyntaxErrorsAreTyped() {
        for template in ["{% if x %}no end", "{{ 'open", "{{ 1 + }}", "{% for in x %}{% endfor %}", "{{ x", "{% endif %}"] {
            XCTAssertThrowsError(try render(template), template) {
                guard case .syntax? = $0 as? JinjaError else { return XCTFail("\(template): \($0)") }
            }
        }
    }

    func testRuntimeErrorsDoNotCrash() {
        for template in ["{{ 1 / 0 }}", "{{ 1 // 0 }}", "{{ 'a' - 1 }}", "{% set x.y = 1 %}", "{{ nope() }}", "{{ {'a': 1} | tojson(indent=undefinedvar) ~ missing | tojson }}"] {
            XCTAssertThrowsError(try render(template), template)
        }
    }
}

final class JinjaStrftimeTests: XCTestCase {
    func testStrftimeMatchesPython() throws {
        let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
            .appendingPathComponent("chat_templates/strftime.json")
        let fixture = try JSONValue.parse(Data(contentsOf: url))
        let date = Date(timeIntervalSince1970: try XCTUnwrap(fixture["timestamp"]?.double))
        let cases = try XCTUnwrap(fixture["cases"]?.array)
        XCTAssertEqual(cases.count, 4)
        for c in cases {
            let format = try XCTUnwrap(c["format"]?.string)
            XCTAssertEqual(ChatTemplate.strftime(format, date: date, timeZone: TimeZone(identifier: "UTC")!),
                           c["expected"]?.string, format)
        }
    }

    func testLlama32UsesStrftimeNowWhenNoDateIsGiven() throws {
        let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
            .appendingPathComponent("chat_templates/llama-3.2-3b-instruct.jinja")
        let template = try ChatTemplate(source: String(contentsOf: url, encoding: .utf8), specialTokens: ["bos_token": "<|begin_of_text|>"])
        let before = ChatTemplate.strftime("%d %b %Y", date: Date(), timeZone: .current)
        let text = try template.render([ChatMessage(role: "user", content: "hi")], addGenerationPrompt: true)
        let after = ChatTemplate.strftime("%d %b %Y", date: Date(), timeZone: .current)
        XCTAssertTrue(text.contains("Today Date: \(before)\n") || text.contains("Today Date: \(after)\n"), text)
        XCTAssertFalse(text.contains("26 Jul 2024"))
    }
}

final class JinjaHostileTemplateTests: XCTestCase {
    func testDeepNestingAndRecursionAreErrorsNotCrashes() {
        let templates = [
            "{{ " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000) + " }}",
            "{{ " + String(repeating: "- ", count: 5000) + "1 }}",
            "{{ " + String(repeating: "not ", count: 5000) + "1 }}",
            "{{ " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + " }}",
            String(repeating: "{% if true %}", count: 5000) + String(repeating: "{% endif %}", count: 5000),
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        ]
        for template in templates {
            XCTAssertThrowsError(try JinjaInterpreter(globals: ChatTemplate.builtins()).render(try JinjaParser.parse(template)),
                                 String(template.prefix(40)))
        }
    }
}
