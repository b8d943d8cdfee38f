import Foundation
import XCTest
@testable import ReAdapt

/// `--adapter` in memory: the same AdapterStack as `merge`, applied while the weights load.
final class AdapterInMemoryTests: XCTestCase {
    func sequence() throws -> [Int] {
        try XCTUnwrap(AdapterFixtures.cases()["biographies_sequence"] as? [Int])
    }

    func logits(_ model: LanguageModel, _ tokens: [Int]) throws -> [Float] {
        try model.makeSession().forward(tokens, allPositions: true)
    }

    func stack(_ name: String, scale: Double = 1) throws -> AdapterStack {
        try AdapterStack(specs: [AdapterSpec(path: AdapterFixtures.url(name).path, scale: scale)])
    }

    /// PEFT's own forward pass with the adapter active (not merged) on the example model.
    func testInMemoryLoRAMatchesPEFTLogits() throws {
        let bundle = try ModelBundle(url: AdapterFixtures.example)
        let model = try bundle.loadModel(storage: .f32, adapters: stack("biographies_lora"))
        let tokens = try sequence()
        let got = try logits(model, tokens)
        let data = try Data(contentsOf: AdapterFixtures.url("biographies_lora/logits.bin"))
        let expected = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        XCTAssertEqual(got.count, expected.count)
        XCTAssertLessThanOrEqual(maxAbsDiff(got[...], expected[...]), 1e-4)
        // The adapter matters: the base alone is far from PEFT's logits.
        let plain = try logits(bundle.loadModel(storage: .f32), tokens)
        XCTAssertGreaterThan(maxAbsDiff(plain[...], expected[...]), 1e-2)
    }

    /// In memory and merged-then-loaded give the same logits (the same weights, bit for bit).
    func testInMemoryEqualsTheMergedCheckpoint() throws {
        let output = try AdapterFixtures.temporaryDirectory(self).appendingPathComponent("merged")
        let adapters = try AdapterStack(specs: [AdapterSpec(path: AdapterFixtures.url("biographies_lora").path, scale: 0.7)],
                                        layerScale: LayerScale(specs: ["ramp:0.5,1", "mlp=0.5"]))
        try ModelMerger.merge(base: AdapterFixtures.example, stack: adapters, output: output)
        let tokens = try sequence()
        let merged = try logits(LanguageModel.load(directory: output, storage: .f32), tokens)
        let inMemory = try logits(ModelBundle(url: AdapterFixtures.example).loadModel(storage: .f32, adapters: adapters), tokens)
        XCTAssertEqual(merged, inMemory)
    }

    /// A delta that grows the vocabulary grows the in-memory model the same way.
    func testInMemoryGrownVocabularyMatchesTheMergedCheckpoint() throws {
        let scratch = try AdapterFixtures.temporaryDirectory(self)
        let base = try AdapterFixtures.copy("base", into: scratch)
        // The tiny base has no tokenizer; any tokenizer.json opens the bundle (ids are fed directly).
        try FileManager.default.copyItem(at: AdapterFixtures.example.appendingPathComponent("tokenizer.json"),
                                         to: base.appendingPathComponent("tokenizer.json"))
        let adapters = try stack("dense_vocab", scale: 0.5)
        let output = scratch.appendingPathComponent("merged")
        try ModelMerger.merge(base: base, stack: adapters, output: output)
        let model = try ModelBundle(url: base).loadModel(storage: .f32, adapters: adapters)
        XCTAssertEqual(model.spec.vocabSize, 36)
        let tokens = [1, 33, 5, 35, 2]
        XCTAssertEqual(try logits(model, tokens), try logits(LanguageModel.load(directory: output, storage: .f32), tokens))
    }

    /// Tensors changed only by dense deltas stream through `BlockwiseMerge`; the bytes written are
    /// exactly `AdapterStack.merged` (what `--adapter` loads), rounded once to the output dtype.
    func testBlockwiseDenseMergeEqualsTheAdapterStackBitForBit() throws {
        let scratch = try AdapterFixtures.temporaryDirectory(self)
        let second = try AdapterFixtures.copy("dense_delta", into: scratch, as: "second")
        let adapters = try AdapterStack(specs: [AdapterSpec(path: AdapterFixtures.url("dense_delta").path, scale: 0.5),
                                                AdapterSpec(path: second.path, scale: -0.3)],
                                        layerScale: LayerScale(specs: ["ramp:0.1,0.9", "norms=2"]))
        let base = try SafetensorsCheckpoint(directory: AdapterFixtures.base)
        for dtype in [DType.f32, .bf16] {
            let output = scratch.appendingPathComponent("merged-\(dtype.rawValue)")
            try ModelMerger.merge(base: AdapterFixtures.base, stack: adapters, output: output,
                                  options: MergeOptions(outputDType: dtype))
            let merged = try SafetensorsCheckpoint(directory: output)
            for name in base.tensorNames {
                XCTAssertNotNil(BlockwiseMerge.sources(for: name, stack: adapters, baseInfo: base.info(name)!), name)
                let expected = try adapters.merged(name, base: base.load(name)).scalars
                let got = try merged.load(name).scalars
                XCTAssertEqual(got, dtype == .f32 ? expected : expected.map(bf16Rounded), "\(name) \(dtype)")
            }
        }
    }

    func testInMemoryRefusesAnAdapterForAnotherModel() throws {
        let bundle = try ModelBundle(url: AdapterFixtures.example)
        let message = AdapterFixtures.errorDescription { _ = try bundle.loadModel(storage: .f32, adapters: self.stack("lora_patterns")) }
        XCTAssertTrue(message.contains("lora_patterns/adapter_model.safetensors"), message)
    }
}
