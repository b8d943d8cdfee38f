import Foundation
import XCTest
@testable import ReAdapt

/// `extract --lore` end to end: the wiring around `LoREExtraction.write` (which the lore branch
/// implements and tests).
final class ExtractLoRETests: XCTestCase {

    func testLoREAtTauHalfChoosesNumpysRanksAndKeepsTheRestDense() throws {
        let pair = try ModelPair(basePath: ExtractTests.path("untied/base"), instructPath: ExtractTests.path("vocab/instruct"))
        let output = try SafetensorsFixtures.temporaryDirectory(self).appendingPathComponent("lore")
        for method in SVDMethod.allCases {
            let (summary, report) = try DeltaExtractor.writeLoRE(
                pair, to: output, options: .init(replace: true),
                lore: LoREOptions(selection: .explainedVariance(0.5), method: method))
            XCTAssertEqual(summary.kind, "lore")
            // Ranks equal numpy's float64 choice at tau = 0.5 on the same delta's linear matrices
            // (vocab/instruct shares untied/instruct's linear weights).
            let spectra = try InspectTests.json("spectra.json")
            let numpy = try XCTUnwrap((spectra["taus"] as? [[String: Any]])?[1]["ranks"] as? [String: Int])
            XCTAssertEqual(Dictionary(uniqueKeysWithValues: report.matrices.map { ($0.name, $0.rank) }), numpy, method.rawValue)
            let files = Set(try FileManager.default.contentsOfDirectory(atPath: output.path))
            XCTAssertTrue(files.isSuperset(of: [LoREExtraction.adapterConfigFileName, LoREExtraction.adapterWeightsFileName,
                                                LoREExtraction.companionFileName, DeltaMetadata.fileName]), "\(files)")
            let meta = try JSONDecoder().decode(DeltaMetadata.self, from: Data(contentsOf: output.appendingPathComponent(DeltaMetadata.fileName)))
            XCTAssertEqual(meta.kind, .lore)
            XCTAssertEqual(Set(meta.carriedRowTensors), ["lm_head.weight", "model.embed_tokens.weight"])
            // Embeddings, head and norms are dense in the companion: exactly extract's dense deltas.
            let companion = try SafetensorsFile(url: output.appendingPathComponent(LoREExtraction.companionFileName))
            let golden = try SafetensorsFile(url: ExtractTests.fixtures.appendingPathComponent("vocab/delta_f32.safetensors"))
            for name in ["model.embed_tokens.weight", "lm_head.weight", "model.norm.weight"] {
                XCTAssertEqual(try companion.load(name), try golden.load(name), name)
            }
        }
    }
}
