import Foundation
import XCTest
@testable import ReAdapt

/// Real SmolLM2-135M-Instruct weights against transformers, only when READAPT_MODEL_REAL_DIR names the
/// output of scripts/bench/make_real_smollm2_reference.py (too large to commit).
final class ModelRealCheckpointTests: XCTestCase {
    struct Reference: Decodable { var ids: [Int]; var generated: [Int] }

    func testSmolLM2LogitsAndGreedyGenerationMatchTransformers() throws {
        guard let path = ProcessInfo.processInfo.environment["READAPT_MODEL_REAL_DIR"] else {
            throw XCTSkip("set READAPT_MODEL_REAL_DIR to check real SmolLM2 weights")
        }
        let dir = URL(fileURLWithPath: path)
        let reference = try JSONDecoder().decode(Reference.self,
                                                 from: Data(contentsOf: dir.appendingPathComponent("reference.json")))
        let expected = try Data(contentsOf: dir.appendingPathComponent("reference_logits.bin"))
            .withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let model = try LanguageModel.load(directory: dir, storage: .f32)
        let logits = try model.makeSession().forward(reference.ids, allPositions: true)
        let diff = maxAbsDiff(logits[...], expected[...])
        let scale = expected.map(abs).max() ?? 1
        print("SmolLM2 real weights: max |Δlogit| \(diff) (largest |logit| \(scale))")
        XCTAssertLessThanOrEqual(diff, 1e-3)
        let result = try Generator(model: model, eosTokenIDs: []).generate(prompt: reference.ids, maxTokens: 24)
        XCTAssertEqual(result.tokens, reference.generated)
    }
}
