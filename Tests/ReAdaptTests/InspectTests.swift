import Foundation
import XCTest
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import ReAdapt

/// `Inspection` and `SpectrumAnalysis` against PEFT's ranks and numpy's float64 spectra
/// (Fixtures/extract/spectra.json, peft_expected.json; scripts/fixtures/make_extract_fixtures.py).
final class InspectTests: XCTestCase {
    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: ExtractTests.fixtures.appendingPathComponent(name))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// numpy's spectra of untied/delta_f32 as MatrixSpectrum values.
    static func fixtureSpectra() throws -> (matrices: [MatrixSpectrum], json: [String: Any]) {
        let spectra = try json("spectra.json")
        let matrices = try XCTUnwrap(spectra["matrices"] as? [[String: Any]]).map { m in
            MatrixSpectrum(name: m["name"] as! String, rows: m["rows"] as! Int, columns: m["columns"] as! Int,
                           singularValues: m["singular_values"] as! [Double])
        }
        return (matrices, spectra)
    }


    func testModelCountsPerGroup() throws {
        let inspection = try Inspection(path: ExtractTests.path("untied/base"))
        XCTAssertEqual(inspection.kind, .model)
        // hidden 32, 3 layers, heads 4 (head_dim 8), kv heads 2, intermediate 64, vocab 64, untied:
        // per layer q 32·32 + k 16·32 + v 16·32 + o 32·32 + gate/up/down 3·64·32 = 9216.
        XCTAssertEqual(inspection.groups["linear"], .init(tensors: 21, parameters: 3 * 9216))
        XCTAssertEqual(inspection.groups["embeddings"], .init(tensors: 1, parameters: 64 * 32))
        XCTAssertEqual(inspection.groups["head"], .init(tensors: 1, parameters: 64 * 32))
        XCTAssertEqual(inspection.groups["norms"], .init(tensors: 7, parameters: 7 * 32))
        XCTAssertNil(inspection.groups["biases"])
        XCTAssertEqual(inspection.parameters, 3 * 9216 + 2 * 64 * 32 + 7 * 32)
        XCTAssertEqual(inspection.dtypes, ["F32": inspection.parameters])
        let qwen = try Inspection(path: ExtractTests.path("tied/base"))
        XCTAssertNil(qwen.groups["head"])
        XCTAssertEqual(qwen.groups["biases"], .init(tensors: 6, parameters: 2 * (32 + 16 + 16)))
        XCTAssertEqual(Set(qwen.dtypes.keys), ["BF16"])
    }

    func testGGUFFileListsHuggingFaceNamesAndGGMLTypes() throws {
        let inspection = try Inspection(path: try GGUFConvertTests.fixture("tiny.gguf").path)
        XCTAssertEqual(inspection.kind, .gguf)
        XCTAssertEqual(inspection.tensors.count, 21)
        XCTAssertTrue(inspection.tensors.contains { $0.name == "model.layers.1.mlp.down_proj.weight" && $0.shape == [32, 64] })
        XCTAssertEqual(inspection.dtypes.keys.sorted(), ["F32"])
        XCTAssertEqual(inspection.groups["linear"]?.tensors, 14)
    }

    func testPEFTAdapterRanksEqualPEFTs() throws {
        let inspection = try Inspection(path: ExtractTests.path("peft"))
        XCTAssertEqual(inspection.kind, .peft)
        let expected = try XCTUnwrap(try Self.json("peft_expected.json")["ranks"] as? [String: Int])
        let modules = try XCTUnwrap(inspection.modules)
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: modules.map { ($0.module, $0.rank) }), expected)
        XCTAssertEqual(modules.first { $0.module == "model.layers.2.mlp.down_proj" }?.layer, 2)
        XCTAssertFalse(modules.contains(where: \.magnitude))
        XCTAssertEqual(inspection.adapterConfig?["r"], "4")
        XCTAssertEqual(inspection.adapterConfig?["peft_type"], "LORA")
        XCTAssertEqual(inspection.adapterConfig?["rank_pattern"], "{\"layers.2.mlp.down_proj\": 1, \"q_proj\": 2}")
    }

    func testDeltaCheckpointShowsItsMetadata() throws {
        let output = try SafetensorsFixtures.temporaryDirectory(self).appendingPathComponent("delta")
        let pair = try ModelPair(basePath: ExtractTests.path("untied/base"), instructPath: ExtractTests.path("vocab/instruct"))
        _ = try DeltaExtractor.writeDense(pair, to: output, options: .init(dtype: .bf16))
        let inspection = try Inspection(path: output.path)
        XCTAssertEqual(inspection.kind, .delta)
        XCTAssertEqual(inspection.metadata?.instructVocabSize, 67)
        XCTAssertEqual(inspection.dtypes.keys.sorted(), ["BF16"])
        XCTAssertEqual(inspection.groups["embeddings"]?.parameters, 67 * 32)
        XCTAssertThrowsError(try Inspection(path: ExtractTests.fixtures.path)) { error in
            XCTAssertEqual("\(error)", "\(ExtractTests.fixtures.path) is not a model directory, .gguf file, delta checkpoint, LoRE adapter or PEFT adapter.")
        }
    }

    func testExplainedVarianceEqualsNumpy() throws {
        let (matrices, spectra) = try Self.fixtureSpectra()
        let expected = try XCTUnwrap(spectra["matrices"] as? [[String: Any]])
        XCTAssertEqual(matrices.count, 21)
        for (m, e) in zip(matrices, expected) {
            let v = try XCTUnwrap(e["explained_variance"] as? [Double])
            XCTAssertEqual(m.explainedVariance.count, v.count)
            for (a, b) in zip(m.explainedVariance, v) { XCTAssertEqual(a, b, accuracy: 1e-12, m.name) }
        }
        XCTAssertEqual(matrices[0].layer, 0)
        XCTAssertEqual(matrices.last?.layer, 2)
        XCTAssertEqual(Set(matrices.map(\.type)), ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    }

    func testTauTableShareCurveAndBudgetEqualNumpy() throws {
        let (matrices, spectra) = try Self.fixtureSpectra()
        let analysis = SpectrumAnalysis(matrices: matrices, taus: [0.25, 0.5, 0.75, 0.9])
        XCTAssertEqual(analysis.parametersFull, spectra["parameters_full"] as? Int)
        let taus = try XCTUnwrap(spectra["taus"] as? [[String: Any]])
        for (ours, numpy) in zip(analysis.taus, taus) {
            XCTAssertEqual(ours.target, numpy["tau"] as? Double)
            XCTAssertEqual(ours.ranks, numpy["ranks"] as? [String: Int], "tau \(ours.target)")
            XCTAssertEqual(ours.parameterShare, try XCTUnwrap(numpy["parameter_share"] as? Double), accuracy: 1e-12)
            XCTAssertEqual(ours.explainedVariance, try XCTUnwrap(numpy["explained_variance"] as? Double), accuracy: 1e-12)
        }
        let curve = try XCTUnwrap(spectra["curve"] as? [[String: Any]])
        for point in curve {
            let tau = try XCTUnwrap(point["tau"] as? Double)
            let ours = try XCTUnwrap(analysis.curve.first { abs($0.tau - tau) < 1e-12 })
            XCTAssertEqual(ours.parameterShare, try XCTUnwrap(point["parameter_share"] as? Double), accuracy: 1e-12, "tau \(tau)")
        }
        let budget = try XCTUnwrap(spectra["budget_at_tau_0.5"] as? [String: Any])
        XCTAssertLessThanOrEqual(analysis.budgetAllocation.parameterShare, analysis.tauAllocation.parameterShare + 1e-12)
        XCTAssertGreaterThanOrEqual(analysis.budgetAllocation.explainedVariance, analysis.tauAllocation.explainedVariance)
        XCTAssertEqual(analysis.budgetAllocation.explainedVariance, try XCTUnwrap(budget["explained_variance"] as? Double), accuracy: 1e-9)
    }

    func testSpectraOfAnExtractedDeltaEqualNumpy() throws {
        let output = try SafetensorsFixtures.temporaryDirectory(self).appendingPathComponent("delta")
        let pair = try ModelPair(basePath: ExtractTests.path("untied/base"), instructPath: ExtractTests.path("untied/instruct"))
        _ = try DeltaExtractor.writeDense(pair, to: output, options: .init())
        var inspection = try Inspection(path: output.path)
        try inspection.analyzeSpectra(taus: [0.5])
        let (expected, _) = try Self.fixtureSpectra()
        let ours = try XCTUnwrap(inspection.spectrum).matrices
        XCTAssertEqual(ours.map(\.name).sorted(), expected.map(\.name).sorted())
        for m in ours {
            let e = try XCTUnwrap(expected.first { $0.name == m.name })
            for (a, b) in zip(m.explainedVariance, e.explainedVariance) { XCTAssertEqual(a, b, accuracy: 1e-5, m.name) }
        }
    }

    func testSVGIsWellFormedWithOnePathPerCurve() throws {
        let (matrices, _) = try Self.fixtureSpectra()
        let analysis = SpectrumAnalysis(matrices: matrices, taus: [0.5])
        XCTAssertEqual(analysis.types, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        XCTAssertEqual(analysis.plottedLayers, [0, 1, 2])
        let svg = analysis.svg(title: "test <&> title")
        let curves = 7 * 3 + 1
        XCTAssertEqual(svg.components(separatedBy: "<path ").count - 1, curves)
        #if canImport(FoundationXML) || os(macOS)
        let document = try XMLDocument(data: Data(svg.utf8))
        XCTAssertEqual(document.rootElement()?.name, "svg")
        XCTAssertEqual(try document.nodes(forXPath: "//*[local-name()='path']").count, curves)
        XCTAssertEqual(try document.nodes(forXPath: "//*[local-name()='g']").count, 8)
        #endif
        // Figure 2's k_proj panel: the first layer's curve starts at (0, 0) and ends at v = 1.
        let kPanel = analysis.figurePanels()[1]
        XCTAssertEqual(kPanel.xRange, 0...16)
        XCTAssertEqual(kPanel.series.map(\.label), ["layer 0", "layer 1", "layer 2"])
        XCTAssertEqual(kPanel.series[0].points.first?.y, 0)
        XCTAssertEqual(try XCTUnwrap(kPanel.series[0].points.last?.y), 1, accuracy: 1e-12)

        let file = try SafetensorsFixtures.temporaryDirectory(self).appendingPathComponent("figures.svg")
        try SVGPlot.write(svg, to: file)
        try SVGPlot.write(svg, to: file)   // replacing works too
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8), svg)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: file.deletingLastPathComponent().path), ["figures.svg"])
    }
}
