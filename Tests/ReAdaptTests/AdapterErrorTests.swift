import Foundation
import XCTest
@testable import ReAdapt

/// Every adapter problem a user can cause is one typed error whose sentence names the file, and a
/// failed merge leaves no output behind.
final class AdapterErrorTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = try AdapterFixtures.temporaryDirectory(self)
    }

    /// Merges `adapter` (a path) into a scratch output; returns the error sentence and checks that
    /// nothing was written.
    func mergeFailure(_ adapter: String, layerScale: [String] = [], file: StaticString = #filePath, line: UInt = #line) -> String {
        let output = scratch.appendingPathComponent("out-\(UUID().uuidString)")
        let message = AdapterFixtures.errorDescription({
            try AdapterFixtures.merge([adapter], layerScale: layerScale, output: output)
        }, file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "output written on error", file: file, line: line)
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: scratch.path))?.filter { $0.contains("partial") } ?? []
        XCTAssertEqual(leftovers, [], "staging directory left behind", file: file, line: line)
        XCTAssertFalse(message.isEmpty, file: file, line: line)
        XCTAssertEqual(message.filter { $0 == "\n" }.count, 0, "one line: \(message)", file: file, line: line)
        return message
    }

    func testTruncatedAdapterWeights() throws {
        let dir = try AdapterFixtures.copy("lora_patterns", into: scratch)
        let weights = dir.appendingPathComponent("adapter_model.safetensors")
        let data = try Data(contentsOf: weights)
        try data.prefix(data.count / 2).write(to: weights)
        let message = mergeFailure(dir.path)
        XCTAssertTrue(message.contains("adapter_model.safetensors"), message)
    }

    func testAdapterForOtherShapes() {
        let message = mergeFailure(AdapterFixtures.url("other_shapes").path)
        XCTAssertTrue(message.contains("other_shapes/adapter_model.safetensors"), message)
        XCTAssertTrue(message.contains("model.layers.0.self_attn.q_proj.weight") && message.contains("[16, 16]"), message)
    }

    func testTargetModuleMissingInBase() throws {
        let dir = scratch.appendingPathComponent("missing")
        try AdapterFixtures.writePEFTAdapter(at: dir, config: [:],
                                             tensors: AdapterFixtures.loraPair("model.layers.0.attn.c_attn", out: 16, in: 16))
        let message = mergeFailure(dir.path)
        XCTAssertTrue(message.contains("model.layers.0.attn.c_attn") && message.contains("has no tensor"), message)
        XCTAssertTrue(message.contains("missing/adapter_model.safetensors"), message)
    }

    func testUnknownPEFTType() throws {
        let dir = scratch.appendingPathComponent("ia3")
        try AdapterFixtures.writePEFTAdapter(at: dir, config: ["peft_type": "IA3"], tensors: [:])
        XCTAssertEqual(mergeFailure(dir.path), "\(dir.path) is a PEFT IA3 adapter; readapt reads LORA adapters only.")
    }

    func testUnsupportedLoRAVariantIsNamed() throws {
        let dir = scratch.appendingPathComponent("replicated")
        try AdapterFixtures.writePEFTAdapter(at: dir, config: ["layer_replication": [[0, 2], [1, 2]]],
                                             tensors: AdapterFixtures.loraPair("model.layers.0.self_attn.q_proj", out: 16, in: 16))
        let message = mergeFailure(dir.path)
        XCTAssertTrue(message.contains("layer_replication") && message.contains("adapter_config.json"), message)
    }

    func testRankDisagreeingWithConfig() throws {
        let dir = scratch.appendingPathComponent("rank")
        try AdapterFixtures.writePEFTAdapter(at: dir, config: ["r": 4],
                                             tensors: AdapterFixtures.loraPair("model.layers.0.self_attn.q_proj", out: 16, in: 16, r: 2))
        let message = mergeFailure(dir.path)
        XCTAssertTrue(message.contains("stores rank 2") && message.contains("gives rank 4"), message)
    }

    func testPickleWeightsAreRefused() throws {
        let dir = scratch.appendingPathComponent("pickle")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: AdapterFixtures.url("lora_patterns/adapter_config.json"),
                                         to: dir.appendingPathComponent("adapter_config.json"))
        try Data([0x80, 0x02]).write(to: dir.appendingPathComponent("adapter_model.bin"))
        let message = mergeFailure(dir.path)
        XCTAssertTrue(message.contains("adapter_model.bin is a PyTorch pickle"), message)
    }

    func testModelDirectoryAndMissingPathAreNotAdapters() {
        XCTAssertTrue(mergeFailure(AdapterFixtures.base.path).contains("is a model directory, not an adapter"))
        XCTAssertTrue(mergeFailure(scratch.appendingPathComponent("nothing").path).contains("does not exist"))
        XCTAssertTrue(mergeFailure(scratch.path).contains("holds no adapter"))
    }

    func testAFileInsideAnAdapterAsksForTheDirectory() {
        let file = AdapterFixtures.url("lora_bias/adapter_model.safetensors").path
        XCTAssertEqual(mergeFailure(file),
                       "Adapter \(file) is a file; pass the adapter's directory (the one holding adapter_config.json or readapt_delta.json).")
    }

    func testDeltaFromADifferentBase() throws {
        let dir = try AdapterFixtures.copy("dense_delta", into: scratch)
        let metadataURL = dir.appendingPathComponent(DeltaMetadata.fileName)
        var metadata = try JSONDecoder().decode(DeltaMetadata.self, from: Data(contentsOf: metadataURL))
        metadata.base.configSHA256 = String(repeating: "ab", count: 32)
        try JSONEncoder().encode(metadata).write(to: metadataURL)
        let message = mergeFailure(dir.path)
        XCTAssertTrue(message.contains("was extracted from a different base") && message.contains(dir.path), message)
    }

    func testDeltaMissingAListedTensor() throws {
        let dir = try AdapterFixtures.copy("dense_delta", into: scratch)
        let metadataURL = dir.appendingPathComponent(DeltaMetadata.fileName)
        var metadata = try JSONDecoder().decode(DeltaMetadata.self, from: Data(contentsOf: metadataURL))
        metadata.tensors.append("model.layers.12.mlp.up_proj.weight")
        try JSONEncoder().encode(metadata).write(to: metadataURL)
        let message = mergeFailure(dir.path)
        XCTAssertTrue(message.contains("readapt_delta.json lists tensor model.layers.12.mlp.up_proj.weight"), message)
    }

    func testMergeProducingInfinityNamesTensorAndAdapter() throws {
        let dir = scratch.appendingPathComponent("huge")
        try AdapterFixtures.writePEFTAdapter(at: dir, config: [:],
                                             tensors: AdapterFixtures.loraPair("model.layers.3.self_attn.q_proj", out: 16, in: 16, value: 1e30))
        XCTAssertEqual(mergeFailure(dir.path),
                       "Merging \(dir.path) produces NaN or infinite values in model.layers.3.self_attn.q_proj.weight; check the adapter and its scale.")
    }

    /// Dense deltas take the blockwise path; its finite check names the tensor and adapter too.
    func testDenseDeltaOverflowIsCaughtOnTheBlockwisePath() {
        let delta = AdapterFixtures.url("dense_delta").path
        let message = mergeFailure(delta + ":1e39")
        XCTAssertTrue(message.hasPrefix("Merging \(delta) produces NaN or infinite values in "), message)
    }

    func testLayerScaleListOfTheWrongLength() {
        let message = mergeFailure(AdapterFixtures.url("lora_patterns").path, layerScale: ["list:1,1,1"])
        XCTAssertTrue(message.contains("has 3 values but the model has 12 layers"), message)
    }

    func testExistingOutputIsKeptWithoutForce() throws {
        let output = scratch.appendingPathComponent("existing")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: output.appendingPathComponent("note.txt"))
        let message = AdapterFixtures.errorDescription { try AdapterFixtures.merge(["lora_bias"], output: output) }
        XCTAssertTrue(message.contains("already exists"), message)
        XCTAssertEqual(try String(contentsOf: output.appendingPathComponent("note.txt"), encoding: .utf8), "keep")
        try AdapterFixtures.merge(["lora_bias"], output: output, options: MergeOptions(replace: true))
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.appendingPathComponent("note.txt").path))
    }
}
