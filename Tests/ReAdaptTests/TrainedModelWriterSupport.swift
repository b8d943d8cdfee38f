import Foundation
import XCTest
@testable import ReAdapt

/// The adapter cases shared by scripts/fixtures/make_train_output_fixtures.py (PEFT's own config
/// and tensor names for the same LoraConfig), scripts/check_train_adapter_with_peft.py (PEFT loads
/// the adapters we write) and the TrainedModelWriter tests.
enum TrainOutputFixtures {
    struct Case {
        var name: String
        /// A model of Fixtures/training/.
        var base: String
        var settings: LoRASettings
    }

    static let cases: [Case] = [
        Case(name: "llama_lora", base: "llama",
             settings: LoRASettings(rank: 4, alpha: 8, dropout: 0.05, targets: LoRATargetModule.allCases)),
        Case(name: "qwen2_dora", base: "qwen2",
             settings: LoRASettings(rank: 2, alpha: 3, dropout: 0, useDoRA: true, targets: [.q, .v, .down])),
        Case(name: "gemma_rslora", base: "gemma",
             settings: LoRASettings(rank: 4, alpha: 6, useRSLoRA: true, dropout: 0.1, targets: [.q, .k, .o, .gate, .up])),
    ]

    static func root() throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
    }

    static func trainingDirectory(_ base: String) throws -> URL {
        try root().appendingPathComponent("training").appendingPathComponent(base)
    }

    static func url(_ path: String) throws -> URL {
        try root().appendingPathComponent("train_outputs").appendingPathComponent(path)
    }

    /// The source tree's copy of train_outputs (the bundle holds a copy made at build time), for
    /// regenerating the recorded adapters with READAPT_UPDATE_TRAIN_OUTPUT_FIXTURES=1.
    static var sourceDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/train_outputs")
    }

    /// `base_model_name_or_path` of the recorded adapters (relative, so the files do not name this machine).
    static func baseModelName(_ c: Case) -> String { "training/" + c.base }

    /// The case's base with a "trained" adapter: PEFT's initialisation from seed 7 (A uniform, B zero,
    /// DoRA magnitude = row norms), then B uniform in ±0.1 and each magnitude scaled by a factor in
    /// [0.9, 1.1], so every adapter tensor matters to the logits. Integer arithmetic and IEEE
    /// operations only, so the values are bit-identical on every platform.
    static func trainedModel(_ c: Case, batchSize: Int = 1, sequenceLength: Int = 8) throws -> TrainableModel {
        let model = try TrainableModel.load(directory: trainingDirectory(c.base), batchSize: batchSize,
                                            sequenceLength: sequenceLength, method: .lora(c.settings), seed: 7)
        let values = model.trainable.values.pointer
        var random = SplitMix(state: 2026)
        for slot in model.trainable.slots {
            for i in slot.offset..<(slot.offset + slot.count) {
                if slot.name.hasSuffix("lora_B.weight") {
                    values[i] = (2 * random.unit() - 1) * 0.1
                } else if slot.name.hasSuffix("lora_magnitude_vector") {
                    values[i] *= 0.9 + 0.2 * random.unit()
                }
            }
        }
        return model
    }

    /// SplitMix64 with 24-bit uniform floats in [0, 1).
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 24) }
    }

    static func jsonObject(_ url: URL) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any], url.path)
    }

    /// Two written files are the same: JSON files as parsed values (Foundation's JSON text differs
    /// between platforms in spacing and number formatting), everything else byte for byte.
    static func assertSameFile(_ a: URL, _ b: URL, _ message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (x, y) = (try Data(contentsOf: a), try Data(contentsOf: b))
        if a.pathExtension == "json" {
            let (px, py) = (try JSONSerialization.jsonObject(with: x), try JSONSerialization.jsonObject(with: y))
            XCTAssertEqual(px as? NSObject, py as? NSObject, message, file: file, line: line)
        } else {
            XCTAssertEqual(x, y, message, file: file, line: line)
        }
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("readapt-trainio-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
