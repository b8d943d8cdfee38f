import Foundation
import XCTest
@testable import ReAdapt

/// Broken pairs are refused before anything is written, with one sentence naming the paths; a
/// failure part-way leaves no output.
final class ExtractErrorTests: XCTestCase {
    /// A copy of the untied base in a scratch directory, with config fields replaced and tensors
    /// dropped, changed or added by `edit` (name → tensor or nil; extra raw tensors added).
    static func brokenModel(in directory: URL, named name: String, config: [String: Any] = [:],
                            edit: (String, Tensor) -> Tensor? = { $1 },
                            extraRaw: [(TensorInfo, [UInt8])] = []) throws -> URL {
        let source = ExtractTests.fixtures.appendingPathComponent("untied/base")
        let target = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json"))) as? [String: Any])
        for (key, value) in config { json[key] = value }
        try JSONSerialization.data(withJSONObject: json).write(to: target.appendingPathComponent("config.json"))
        let original = try SafetensorsFile(url: source.appendingPathComponent("model.safetensors"))
        var tensors: [(String, Tensor)] = []
        for entry in original.entries {
            if let t = edit(entry.info.name, try original.load(entry.info.name)) { tensors.append((entry.info.name, t)) }
        }
        let infos = tensors.map { TensorInfo(name: $0.0, dtype: .f32, shape: $0.1.shape) } + extraRaw.map(\.0)
        let writer = try SafetensorsWriter(url: target.appendingPathComponent("model.safetensors"), tensors: infos)
        for (n, t) in tensors { try writer.write(n, t) }
        for (info, bytes) in extraRaw { try bytes.withUnsafeBytes { try writer.writeRaw(info.name, bytes: $0) } }
        try writer.finish()
        return target
    }

    func scratch() throws -> URL { try SafetensorsFixtures.temporaryDirectory(self) }

    func assertPairFails(base: String, instruct: String, _ expected: String,
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ModelPair(basePath: base, instructPath: instruct), file: file, line: line) { error in
            XCTAssertEqual("\(error)", expected, file: file, line: line)
        }
    }

    func testMismatchedConfigNamesBothPaths() throws {
        let base = ExtractTests.path("untied/base")
        let other = try Self.brokenModel(in: scratch(), named: "layers", config: ["num_hidden_layers": 2]) { name, t in
            name.contains("layers.2.") ? nil : t
        }
        assertPairFails(base: base, instruct: other.path,
                        "Base model \(base) and instruct model \(other.path) differ in num_hidden_layers (3 vs 2), so they are not a base/instruct pair.")
        let qwen = ExtractTests.path("tied/base")
        assertPairFails(base: base, instruct: qwen,
                        "Base model \(base) and instruct model \(qwen) differ in model_type (llama vs qwen2), so they are not a base/instruct pair.")
        let tied = try Self.brokenModel(in: scratch(), named: "tied", config: ["tie_word_embeddings": true])
        assertPairFails(base: base, instruct: tied.path,
                        "Base model \(base) and instruct model \(tied.path) differ in tie_word_embeddings (false vs true), so they are not a base/instruct pair.")
    }

    func testMissingTensorIsNamed() throws {
        let base = ExtractTests.path("untied/base")
        let missing = try Self.brokenModel(in: scratch(), named: "missing") { name, t in
            name == "model.layers.1.mlp.up_proj.weight" ? nil : t
        }
        assertPairFails(base: base, instruct: missing.path,
                        "The instruct model \(missing.path) has no tensor 'model.layers.1.mlp.up_proj.weight', which the base model \(base) has.")
        assertPairFails(base: missing.path, instruct: base,
                        "The base model \(missing.path) has no tensor 'model.layers.1.mlp.up_proj.weight', which the instruct model \(base) has.")
    }

    func testDifferentShapeAndFewerVocabularyRows() throws {
        let base = ExtractTests.path("untied/base")
        let reshaped = try Self.brokenModel(in: scratch(), named: "shape") { name, t in
            name == "model.layers.0.mlp.gate_proj.weight" ? Tensor(zeros: [32, 64]) : t
        }
        assertPairFails(base: base, instruct: reshaped.path,
                        "Tensor 'model.layers.0.mlp.gate_proj.weight' has shape [64, 32] in base model \(base) but [32, 64] in instruct model \(reshaped.path).")
        let vocab = ExtractTests.path("vocab/instruct")
        assertPairFails(base: vocab, instruct: base,
                        "Instruct model \(base) has fewer rows in 'lm_head.weight' (64) than base model \(vocab) (67); the instruct vocabulary must extend the base's.")
    }

    func testNonFloatTensorIsRefused() throws {
        let info = TensorInfo(name: "model.position_ids", dtype: .i64, shape: [2])
        let bytes = [UInt8](repeating: 0, count: 16)
        let dir = try scratch()
        let a = try Self.brokenModel(in: dir, named: "a", extraRaw: [(info, bytes)])
        let b = try Self.brokenModel(in: dir, named: "b", extraRaw: [(info, bytes)])
        assertPairFails(base: a.path, instruct: b.path,
                        "Tensor 'model.position_ids' of the base model \(a.path) is I64, not a floating-point weight, so it has no delta.")
    }

    func testTruncatedFileAndMissingModelAreNamed() throws {
        let base = ExtractTests.path("untied/base")
        let truncated = try Self.brokenModel(in: scratch(), named: "truncated")
        let file = truncated.appendingPathComponent("model.safetensors")
        let data = try Data(contentsOf: file)
        try data.prefix(data.count - 100).write(to: file)
        XCTAssertThrowsError(try ModelPair(basePath: base, instructPath: truncated.path)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("Cannot open the instruct model \(truncated.path) (model.safetensors: tensor '"), text)
            XCTAssertTrue(text.hasSuffix(")."), text)
        }
        assertPairFails(base: "/nonexistent/base", instruct: base, "The base model /nonexistent/base does not exist.")
        let notModel = try scratch()
        assertPairFails(base: base, instruct: notModel.path,
                        "The instruct model \(notModel.path) is neither a model directory with config.json nor a .gguf file.")
    }

    /// Wraps a source so that loading the `failAt`-th distinct tensor throws.
    final class FailingSource: TensorSource {
        struct Failure: Error, CustomStringConvertible { var description: String { "the disk went away." } }
        let inner: TensorSource
        let failAt: Int
        var loads = 0
        init(_ inner: TensorSource, failAt: Int) { self.inner = inner; self.failAt = failAt }
        var tensorNames: [String] { inner.tensorNames }
        func info(_ name: String) -> TensorInfo? { inner.info(name) }
        func load(_ name: String) throws -> Tensor {
            loads += 1
            if loads == failAt { throw Failure() }
            return try inner.load(name)
        }
    }

    func testFailurePartWayLeavesNoOutput() throws {
        let good = try PairedModel(role: "instruct", path: ExtractTests.path("untied/instruct"))
        let base = try PairedModel(role: "base", path: ExtractTests.path("untied/base"))
        let failing = PairedModel(role: "instruct", path: good.path, config: good.config, configSHA256: good.configSHA256,
                                  source: FailingSource(good.source, failAt: 10), storageOrder: good.storageOrder)
        let pair = try ModelPair(base: base, instruct: failing)
        let directory = try scratch()
        let output = directory.appendingPathComponent("delta")
        XCTAssertThrowsError(try DeltaExtractor.writeDense(pair, to: output, options: .init(maxShardSize: 20_000))) { error in
            XCTAssertEqual("\(error)", "the disk went away.")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), [])
    }

    func testExistingOutputIsKeptWithoutReplace() throws {
        let directory = try scratch()
        let output = directory.appendingPathComponent("delta")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: output.appendingPathComponent("keep.txt"))
        let pair = try ModelPair(basePath: ExtractTests.path("untied/base"), instructPath: ExtractTests.path("untied/instruct"))
        XCTAssertThrowsError(try DeltaExtractor.writeDense(pair, to: output, options: .init())) { error in
            XCTAssertEqual("\(error)", "\(output.path) already exists and is not an empty directory (pass --force to replace it).")
        }
        _ = try DeltaExtractor.writeDense(pair, to: output, options: .init(replace: true))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: output.path).sorted(),
                       [SafetensorsCheckpoint.singleFileName, DeltaMetadata.fileName])
    }
}
