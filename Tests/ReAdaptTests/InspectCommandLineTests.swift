import Foundation
import XCTest
@testable import ReAdapt

/// `readapt inspect` through the built binary.
extension CommandLineTests {
    func inspectJSON(_ arguments: [String]) throws -> [String: Any] {
        let outcome = try readapt(["inspect"] + arguments + ["--json"])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
    }

    func testInspectModelAndPEFTAdapterAsJSON() throws {
        let model = try inspectJSON([ExtractTests.path("tied/base")])
        XCTAssertEqual(model["kind"] as? String, "model")
        let groups = try XCTUnwrap(model["groups"] as? [String: [String: Int]])
        XCTAssertEqual(groups["biases"], ["tensors": 6, "parameters": 128])
        XCTAssertNil(groups["head"])

        let adapter = try inspectJSON([ExtractTests.path("peft")])
        XCTAssertEqual(adapter["kind"] as? String, "peft")
        let modules = try XCTUnwrap(adapter["modules"] as? [[String: Any]])
        let expected = try XCTUnwrap(try InspectTests.json("peft_expected.json")["ranks"] as? [String: Int])
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: modules.map { ($0["module"] as! String, $0["rank"] as! Int) }), expected)

        let text = try readapt(["inspect", ExtractTests.path("peft")])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("LoRA ranks per layer:"), text.stdout)
        XCTAssertTrue(text.stdout.contains("2           2       4       4       4          1"), text.stdout)
    }

    func testInspectDeltaListsMetadataAndPlotsItsSpectra() throws {
        let scratch = try scratchDirectory()
        let delta = scratch.appendingPathComponent("delta").path
        let extracted = try readapt(["extract", "--base", ExtractTests.path("untied/base"),
                                     "--instruct", ExtractTests.path("untied/instruct"), "--output", delta])
        XCTAssertEqual(extracted.status, 0, extracted.stderr)
        let listing = try inspectJSON([delta, "--no-spectra"])
        XCTAssertEqual(listing["kind"] as? String, "delta")
        XCTAssertEqual((listing["metadata"] as? [String: Any])?["kind"] as? String, "dense")
        XCTAssertNil(listing["spectrum"])

        let plot = scratch.appendingPathComponent("figures.svg").path
        let full = try inspectJSON([delta, "--plot", plot, "--taus", "0.5,0.9"])
        let spectrum = try XCTUnwrap(full["spectrum"] as? [String: Any])
        let numpy = try XCTUnwrap(try InspectTests.json("spectra.json")["taus"] as? [[String: Any]])
        let taus = try XCTUnwrap(spectrum["taus"] as? [[String: Any]])
        XCTAssertEqual(taus.count, 2)
        // Ranks from our SVD of our delta equal numpy's float64 ranks; the share arithmetic too.
        XCTAssertEqual(taus[0]["ranks"] as? [String: Int], numpy[1]["ranks"] as? [String: Int])
        XCTAssertEqual(try XCTUnwrap(taus[0]["parameter_share"] as? Double),
                       try XCTUnwrap(numpy[1]["parameter_share"] as? Double), accuracy: 1e-12)
        XCTAssertEqual(taus[1]["ranks"] as? [String: Int], numpy[3]["ranks"] as? [String: Int])
        let svg = try String(contentsOfFile: plot, encoding: .utf8)
        XCTAssertEqual(svg.components(separatedBy: "<path ").count - 1, 7 * 3 + 1)
    }

    func testInspectRefusesBadInputInOneSentence() throws {
        let scratch = try scratchDirectory()
        try assertFails(["inspect", "/nonexistent/thing"], mentioning: "/nonexistent/thing does not exist.")
        try assertFails(["inspect", scratch.path],
                        mentioning: "\(scratch.path) is not a model directory, .gguf file, delta checkpoint, LoRE adapter or PEFT adapter.")
        try assertFails(["inspect", ExtractTests.path("untied/base"), "--taus", "0.5,2"],
                        mentioning: "--taus must be a comma list of numbers in (0, 1], not '0.5,2'.")
        let plot = scratch.appendingPathComponent("x.svg").path
        try assertFails(["inspect", ExtractTests.path("untied/base"), "--plot", plot],
                        mentioning: "is not a dense delta checkpoint, so there is nothing to plot.")
        XCTAssertFalse(FileManager.default.fileExists(atPath: plot))
        let broken = scratch.appendingPathComponent("adapter")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: broken.appendingPathComponent("adapter_config.json"))
        try Data([1, 2, 3]).write(to: broken.appendingPathComponent("adapter_model.safetensors"))
        try assertFails(["inspect", broken.path], mentioning: "adapter_model.safetensors")
    }
}
