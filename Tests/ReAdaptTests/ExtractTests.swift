import Foundation
import XCTest
@testable import ReAdapt

/// `DeltaExtractor` against torch's deltas and the instruct models' logits
/// (scripts/fixtures/make_extract_fixtures.py).
final class ExtractTests: XCTestCase {
    static var fixtures: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("extract")
    }
    static func path(_ relative: String) -> String { fixtures.appendingPathComponent(relative).path }

    static func expected() throws -> [String: Any] {
        let data = try Data(contentsOf: fixtures.appendingPathComponent("expected.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func output() throws -> URL {
        try SafetensorsFixtures.temporaryDirectory(self).appendingPathComponent("delta")
    }

    func extract(_ pairName: String, instruct: String? = nil, options: DeltaExtractionOptions = .init()) throws
        -> (URL, DeltaExtractionSummary) {
        let pair = try ModelPair(basePath: Self.path("\(pairName)/base"), instructPath: Self.path(instruct ?? "\(pairName)/instruct"))
        let url = try output()
        return (url, try DeltaExtractor.writeDense(pair, to: url, options: options))
    }

    /// Every tensor of `actual` has the bytes of `golden` (same names, dtypes, shapes).
    func assertSameTensors(_ actual: URL, golden: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let ours = try SafetensorsCheckpoint(directory: actual)
        let theirs = try SafetensorsFile(url: Self.fixtures.appendingPathComponent(golden))
        XCTAssertEqual(ours.tensorNames, theirs.tensorNames, file: file, line: line)
        for name in theirs.tensorNames {
            let a = try ours.withRawBytes(name) { raw, info in (Array(raw), info) }
            let b = try theirs.withRawBytes(name) { raw, info in (Array(raw), info) }
            XCTAssertEqual(a.1, b.1, name, file: file, line: line)
            XCTAssertTrue(a.0 == b.0, "\(name) differs from \(golden)", file: file, line: line)
        }
    }

    func metadata(_ url: URL) throws -> DeltaMetadata {
        try JSONDecoder().decode(DeltaMetadata.self, from: Data(contentsOf: url.appendingPathComponent(DeltaMetadata.fileName)))
    }

    func testUntiedF32DeltaEqualsTorchBitForBit() throws {
        let (url, summary) = try extract("untied")
        try assertSameTensors(url, golden: "untied/delta_f32.safetensors")
        XCTAssertEqual(summary.dtype, "F32")
        XCTAssertEqual(summary.shards, 1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: url.path).sorted(),
                       [SafetensorsCheckpoint.singleFileName, DeltaMetadata.fileName])
        let meta = try metadata(url)
        let hashes = try XCTUnwrap(try Self.expected()["config_sha256"] as? [String: String])
        XCTAssertEqual(meta.kind, .dense)
        XCTAssertEqual(meta.base.configSHA256, hashes["untied/base"])
        XCTAssertEqual(meta.instruct.configSHA256, hashes["untied/instruct"])
        XCTAssertEqual(meta.base.path, Self.path("untied/base"))
        XCTAssertEqual(meta.base.modelType, "llama")
        XCTAssertEqual(meta.groups, TensorGroup.allCases)
        XCTAssertFalse(meta.tiedEmbeddings)
        XCTAssertTrue(meta.tensors.contains("lm_head.weight"))
        XCTAssertEqual(meta.tensors.count, 3 * 9 + 3)
        XCTAssertEqual(meta.carriedRowTensors, [])
        XCTAssertEqual([meta.baseVocabSize, meta.instructVocabSize], [64, 64])
        // The base's storage order is kept in the output file.
        let base = try SafetensorsFile(url: Self.fixtures.appendingPathComponent("untied/base/model.safetensors"))
        let written = try SafetensorsFile(url: url.appendingPathComponent(SafetensorsCheckpoint.singleFileName))
        XCTAssertEqual(Set(written.entries.map(\.info.name)), Set(base.entries.map(\.info.name)))
    }

    func testUntiedBF16DeltaEqualsTorchRounding() throws {
        let (url, summary) = try extract("untied", options: DeltaExtractionOptions(dtype: .bf16))
        try assertSameTensors(url, golden: "untied/delta_bf16.safetensors")
        XCTAssertEqual(summary.dtype, "BF16")
        XCTAssertEqual(try metadata(url).dtype, "BF16")
    }

    func testTiedBF16PairHasNoHeadAndDefaultsToTheBaseDType() throws {
        let (url, summary) = try extract("tied")
        try assertSameTensors(url, golden: "tied/delta_bf16.safetensors")
        XCTAssertEqual(summary.dtype, "BF16")
        let meta = try metadata(url)
        XCTAssertTrue(meta.tiedEmbeddings)
        XCTAssertFalse(meta.tensors.contains("lm_head.weight"))
        XCTAssertTrue(meta.tensors.contains("model.layers.0.self_attn.q_proj.bias"))
        let (f32, _) = try extract("tied", options: DeltaExtractionOptions(dtype: .f32))
        try assertSameTensors(f32, golden: "tied/delta_f32.safetensors")
    }

    func testExtraVocabularyRowsAreCarriedWhole() throws {
        let (url, summary) = try extract("untied", instruct: "vocab/instruct")
        try assertSameTensors(url, golden: "vocab/delta_f32.safetensors")
        XCTAssertEqual(Set(summary.carriedRowTensors), ["lm_head.weight", "model.embed_tokens.weight"])
        let meta = try metadata(url)
        XCTAssertEqual(meta.carriedRowTensors, ["lm_head.weight", "model.embed_tokens.weight"])
        XCTAssertEqual([meta.baseVocabSize, meta.instructVocabSize], [64, 67])
    }

    /// Logits of `base` with every tensor replaced by base + delta (extra rows: the delta's rows).
    func readaptedLogits(base: String, specFrom: String, delta: URL, tokens: [Int]) throws -> [Float] {
        let configFile = Self.fixtures.appendingPathComponent("\(specFrom)/config.json")
        let spec = try ModelSpec(ModelConfig.load(configFile), file: configFile)
        let deltas = try SafetensorsCheckpoint(directory: delta)
        let model = try LanguageModel(spec: spec, source: SafetensorsCheckpoint(directory: Self.fixtures.appendingPathComponent(base)),
                                      sourceName: base, storage: .f32) { name, tensor in
            guard deltas.info(name) != nil else { return tensor }
            let d = try deltas.load(name)
            var sum = d
            for i in 0..<tensor.count { sum.scalars[i] += tensor.scalars[i] }
            return sum
        }
        return try model.makeSession().forward(tokens, allPositions: true)
    }

    func assertLogits(_ actual: [Float], reference: String, tolerance: Float = 1e-4,
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent(reference))
        let expected = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        XCTAssertEqual(actual.count, expected.count, file: file, line: line)
        let diff = zip(actual, expected).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThan(diff, tolerance, reference, file: file, line: line)
    }

    func testBasePlusDeltaReproducesInstructLogits() throws {
        let expected = try Self.expected()
        let tokens = try XCTUnwrap(expected["tokens"] as? [Int])
        let (untied, _) = try extract("untied")
        try assertLogits(readaptedLogits(base: "untied/base", specFrom: "untied/base", delta: untied, tokens: tokens),
                         reference: "untied/instruct_logits.bin")
        let (tied, _) = try extract("tied", options: DeltaExtractionOptions(dtype: .f32))
        try assertLogits(readaptedLogits(base: "tied/base", specFrom: "tied/base", delta: tied, tokens: tokens),
                         reference: "tied/instruct_logits.bin")
        let vocabTokens = try XCTUnwrap(expected["vocab_tokens"] as? [Int])
        let (vocab, _) = try extract("untied", instruct: "vocab/instruct")
        try assertLogits(readaptedLogits(base: "untied/base", specFrom: "vocab/instruct", delta: vocab, tokens: vocabTokens),
                         reference: "vocab/instruct_logits.bin")
    }

    /// Tensors past ParallelRows' threshold are split across threads in 16K-element chunks (the
    /// fixture models are too small for that); the result must still be the elementwise
    /// instruct - base rounded once, including carried rows past the base's vocabulary.
    func testLargeTensorsSplitAcrossThreadsMatchTheElementwiseDifference() throws {
        var state: UInt64 = 42
        func random(_ count: Int) -> [Float] {
            (0..<count).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 3e6
            }
        }
        let directory = try SafetensorsFixtures.temporaryDirectory(self)
        let rows = (base: 4000, instruct: 4003)
        let baseValues = random(rows.base * 32), instructValues = random(rows.instruct * 32)
        let base = try ExtractErrorTests.brokenModel(in: directory, named: "base") { name, t in
            name == "model.embed_tokens.weight" ? Tensor(shape: [rows.base, 32], scalars: baseValues) : t
        }
        let instruct = try ExtractErrorTests.brokenModel(in: directory, named: "instruct") { name, t in
            name == "model.embed_tokens.weight" ? Tensor(shape: [rows.instruct, 32], scalars: instructValues) : t
        }
        let pair = try ModelPair(basePath: base.path, instructPath: instruct.path)
        let output = directory.appendingPathComponent("delta")
        _ = try DeltaExtractor.writeDense(pair, to: output, options: .init(groups: [.embeddings], dtype: .bf16))
        let delta = try SafetensorsCheckpoint(directory: output).load("model.embed_tokens.weight")
        XCTAssertEqual(delta.shape, [rows.instruct, 32])
        let expected = instructValues.indices.map { k in
            bf16Rounded(instructValues[k] - (k < baseValues.count ? baseValues[k] : 0))
        }
        assertBitsEqual(delta.scalars, expected, "embed_tokens delta")
        XCTAssertEqual(try DeltaExtractor.delta(pair, pair.tensors.first { $0.group == .embeddings }!).scalars,
                       instructValues.indices.map { k in instructValues[k] - (k < baseValues.count ? baseValues[k] : 0) })
    }

    func testSmallShardSizeWritesSeveralShardsAndAnIndex() throws {
        let (url, summary) = try extract("untied", options: DeltaExtractionOptions(maxShardSize: 20_000))
        XCTAssertGreaterThan(summary.shards, 3)
        let files = try FileManager.default.contentsOfDirectory(atPath: url.path)
        XCTAssertTrue(files.contains(SafetensorsCheckpoint.indexFileName))
        XCTAssertFalse(files.contains(SafetensorsCheckpoint.singleFileName))
        XCTAssertEqual(files.filter { $0.hasSuffix(".safetensors") }.count, summary.shards)
        try assertSameTensors(url, golden: "untied/delta_f32.safetensors")
    }

    func testIncludeSelectsGroups() throws {
        let (url, _) = try extract("tied", options: DeltaExtractionOptions(groups: [.norms, .biases]))
        let meta = try metadata(url)
        XCTAssertEqual(meta.groups, [.norms, .biases])
        XCTAssertFalse(meta.tensors.isEmpty)
        XCTAssertTrue(meta.tensors.allSatisfy { $0.hasSuffix("norm.weight") || $0.hasSuffix(".bias") }, "\(meta.tensors)")
        XCTAssertEqual(try SafetensorsCheckpoint(directory: url).tensorNames, meta.tensors)
        XCTAssertEqual(try TensorGroup.parseList("Linear, head"), [.linear, .head])
        XCTAssertThrowsError(try TensorGroup.parseList("linear,attention")) { error in
            XCTAssertEqual("\(error)", "'attention' is not a tensor group; use a comma list of linear, embeddings, head, norms, biases (or all).")
        }
        let pair = try ModelPair(basePath: Self.path("untied/base"), instructPath: Self.path("untied/instruct"))
        XCTAssertThrowsError(try DeltaExtractor.writeDense(pair, to: try output(), options: .init(groups: [.biases]))) { error in
            XCTAssertTrue("\(error)".contains("no tensors in the groups biases"), "\(error)")
        }
    }

    func testClassification() {
        XCTAssertEqual(TensorGroup.classify(name: "model.embed_tokens.weight", shape: [64, 32]), .embeddings)
        XCTAssertEqual(TensorGroup.classify(name: "lm_head.weight", shape: [64, 32]), .head)
        XCTAssertEqual(TensorGroup.classify(name: "model.layers.0.self_attn.q_proj.bias", shape: [32]), .biases)
        XCTAssertEqual(TensorGroup.classify(name: "model.layers.0.input_layernorm.weight", shape: [32]), .norms)
        XCTAssertEqual(TensorGroup.classify(name: "model.layers.0.mlp.down_proj.weight", shape: [32, 64]), .linear)
    }

    func testShardSizeParsing() throws {
        XCTAssertEqual(try DeltaExtractionOptions.parseByteSize("5GB"), 5_000_000_000)
        XCTAssertEqual(try DeltaExtractionOptions.parseByteSize("500MB"), 500_000_000)
        XCTAssertEqual(try DeltaExtractionOptions.parseByteSize("2GiB"), 2 << 30)
        XCTAssertEqual(try DeltaExtractionOptions.parseByteSize("1.5kb"), 1500)
        XCTAssertEqual(try DeltaExtractionOptions.parseByteSize("123456"), 123456)
        for bad in ["", "GB", "-1GB", "five", "0"] {
            XCTAssertThrowsError(try DeltaExtractionOptions.parseByteSize(bad), bad)
        }
    }

    func testSHA256StandardVectors() {
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex(Data(repeating: UInt8(ascii: "a"), count: 1000)),
                       "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }
}

/// A .gguf file is accepted as either side of a pair (tensors dequantized through GGUFCheckpoint).
final class ExtractGGUFTests: XCTestCase {
    func testGGUFAgainstItsHuggingFaceDirectoryGivesZeroDeltas() throws {
        let gguf = try GGUFConvertTests.fixture("tiny.gguf").path
        let directory = try GGUFConvertTests.fixture("tiny_hf").path
        for (base, instruct) in [(gguf, directory), (directory, gguf)] {
            let pair = try ModelPair(basePath: base, instructPath: instruct)
            let output = try SafetensorsFixtures.temporaryDirectory(self).appendingPathComponent("delta")
            let summary = try DeltaExtractor.writeDense(pair, to: output, options: .init(dtype: .f32))
            XCTAssertEqual(summary.tensorCount, pair.tensors.count)
            XCTAssertEqual(summary.tensorCount, 21)
            let deltas = try SafetensorsCheckpoint(directory: output)
            for name in deltas.tensorNames {
                // The fixture's GGUF stores F32, so dequantized values equal the directory's exactly.
                XCTAssertTrue(try deltas.load(name).scalars.allSatisfy { $0 == 0 }, name)
            }
            let meta = try JSONDecoder().decode(DeltaMetadata.self, from: Data(contentsOf: output.appendingPathComponent(DeltaMetadata.fileName)))
            XCTAssertEqual(meta.base.path, base)
            XCTAssertEqual(meta.base.configSHA256.count, 64)
        }
    }
}
