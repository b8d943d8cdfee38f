import Foundation
@testable import ReAdapt
import XCTest

/// LoREExtraction.write on the tiny 12-layer Llama pair of scripts/fixtures/check_lore_with_peft.py:
/// ranks against numpy, the PEFT config and scales, the companion file, the report, and the
/// recorded PEFT/llama.cpp check of the same format.
final class LoREExtractionTests: XCTestCase {
    static let directory = LoRENumericsTests.directory

    struct PairReference: Decodable {
        var tau: Double
        var ranks: [String: Int]
        var budget_share: Double
        var budget_ranks: [String: Int]
        var linear: [String]
        var unchanged: String
    }

    struct Pair {
        var base: SafetensorsCheckpoint
        var instruct: SafetensorsCheckpoint
        var linear: [TensorInfo]
        var dense: [TensorInfo]
        var reference: PairReference

        func delta(_ name: String) throws -> Tensor {
            let b = try base.load(name), i = try instruct.load(name)
            return Tensor(shape: b.shape, scalars: zip(i.scalars, b.scalars).map { $0 - $1 })
        }
    }

    func loadPair() throws -> Pair {
        let base = try SafetensorsCheckpoint(directory: Self.directory.appendingPathComponent("pair/base"))
        let instruct = try SafetensorsCheckpoint(directory: Self.directory.appendingPathComponent("pair/instruct"))
        let infos = base.tensorNames.compactMap { base.info($0) }
        let isLinear = { (info: TensorInfo) in
            info.shape.count == 2 && info.name.contains(".layers.") && info.name.hasSuffix("_proj.weight")
        }
        let data = try Data(contentsOf: Self.directory.appendingPathComponent("pair_reference.json"))
        let reference = try JSONDecoder().decode(PairReference.self, from: data)
        return Pair(base: base, instruct: instruct, linear: infos.filter(isLinear),
                    dense: infos.filter { !isLinear($0) }, reference: reference)
    }

    func metadata(_ pair: Pair) -> DeltaMetadata {
        let source = { (path: String) in DeltaSourceModel(path: path, configSHA256: "not-hashed-in-this-test", modelType: "llama") }
        return DeltaMetadata(kind: .lore, base: source("pair/base"), instruct: source("pair/instruct"), dtype: "F32",
                             groups: TensorGroup.allCases, tensors: pair.base.tensorNames, tiedEmbeddings: false,
                             baseVocabSize: 64, instructVocabSize: 64, carriedRowTensors: [])
    }

    func write(_ pair: Pair, options: LoREOptions, progress: ((String) -> Void)? = nil) throws -> (StagingDirectory, LoREReport) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("lore-test-\(UUID().uuidString)")
        let staging = try StagingDirectory(output: output, replace: false)
        let report = try LoREExtraction.write(linear: pair.linear, dense: pair.dense, loadDelta: pair.delta,
                                              options: options, metadata: metadata(pair),
                                              baseModelPath: "pair/base", to: staging.url, progress: progress)
        return (staging, report)
    }

    func jsonObject(_ url: URL) throws -> NSDictionary {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? NSDictionary)
    }

    func testPairAdapter() throws {
        let pair = try loadPair()
        var lines: [String] = []
        // Exact factors, so that PEFT's merge can be pinned to numpy's Δ_k at 1e-5 (the randomized
        // factors are the sketch's rank-k approximation; testRandomizedPairRanks covers them).
        let (staging, report) = try write(pair, options: LoREOptions(selection: .explainedVariance(0.5), method: .exact),
                                          progress: { lines.append($0) })
        let directory = staging.url

        // Ranks: numpy's, the unchanged module omitted.
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: report.matrices.map { ($0.name, $0.rank) }), pair.reference.ranks)
        XCTAssertEqual(report.omittedModules, [String(pair.reference.unchanged.dropLast(".weight".count))])
        XCTAssertEqual(report.adapterRank, pair.reference.ranks.values.max())
        XCTAssertEqual(report.parametersKept, report.matrices.reduce(0) { $0 + $1.rank * ($1.rows + $1.columns) })
        XCTAssertEqual(lines.count, pair.linear.count)
        XCTAssertTrue(lines.last?.hasPrefix("84/84 model.layers.9.self_attn.v_proj.weight: rank") ?? false, lines.last ?? "")

        // adapter_config.json: one global alpha = r = the largest rank, the rest in rank_pattern.
        let config = try jsonObject(directory.appendingPathComponent("adapter_config.json"))
        let r = report.adapterRank
        XCTAssertEqual(config["r"] as? Int, r)
        XCTAssertEqual(config["lora_alpha"] as? Int, r)
        XCTAssertEqual(config["peft_type"] as? String, "LORA")
        XCTAssertEqual(config["task_type"] as? String, "CAUSAL_LM")
        XCTAssertEqual(config["use_rslora"] as? Bool, false)
        XCTAssertEqual(config["exclude_modules"] as? [String], report.omittedModules)
        XCTAssertEqual((config["alpha_pattern"] as? NSDictionary)?.count, 0)
        XCTAssertEqual(config["target_modules"] as? [String],
                       ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"])
        var expectedPattern: [String: Int] = [:]
        for (name, k) in pair.reference.ranks where k != 0 && k != r { expectedPattern[String(name.dropLast(7))] = k }
        XCTAssertEqual(config["rank_pattern"] as? [String: Int], expectedPattern)
        XCTAssertNotEqual(expectedPattern["model.layers.1.self_attn.q_proj"], expectedPattern["model.layers.11.self_attn.q_proj"],
                          "layer 1 vs 11 must have different ranks for the regex check to mean anything")

        // Weights: PEFT's B·A·(alpha/k) reproduces numpy's Δ_k.
        let weights = try SafetensorsFile(url: directory.appendingPathComponent("adapter_model.safetensors"))
        let approximations = try SafetensorsFile(url: Self.directory.appendingPathComponent("pair_delta_k.safetensors"))
        XCTAssertEqual(weights.entries.count, 2 * (pair.linear.count - 1))
        for matrix in report.matrices where matrix.rank > 0 {
            let module = "base_model.model." + matrix.name.dropLast(".weight".count)
            let a = try weights.load(module + ".lora_A.weight"), b = try weights.load(module + ".lora_B.weight")
            XCTAssertEqual(a.shape, [matrix.rank, matrix.columns])
            XCTAssertEqual(b.shape, [matrix.rows, matrix.rank])
            let expected = try approximations.load(matrix.name)
            let delta = try pair.delta(matrix.name)
            let scale = Double(r) / Double(matrix.rank)
            var worst = 0.0
            for row in 0..<matrix.rows {
                for column in 0..<matrix.columns {
                    var sum = 0.0
                    for i in 0..<matrix.rank {
                        sum += Double(b.scalars[row * matrix.rank + i]) * Double(a.scalars[i * matrix.columns + column])
                    }
                    worst = max(worst, abs(sum * scale - Double(expected.scalars[row * matrix.columns + column])))
                }
            }
            let maxAbs = Double(delta.scalars.map { abs($0) }.max() ?? 0)
            XCTAssertEqual(matrix.solver, "exact")
            XCTAssertLessThanOrEqual(worst, 1e-5 * maxAbs, matrix.name)
        }

        // Companion: every dense delta, exactly instruct - base in F32.
        let companion = try SafetensorsFile(url: directory.appendingPathComponent("readapt_dense_delta.safetensors"))
        XCTAssertEqual(companion.tensorNames, pair.dense.map(\.name).sorted())
        for info in pair.dense { XCTAssertEqual(try companion.load(info.name), try pair.delta(info.name), info.name) }

        // Metadata and report files.
        let decoder = JSONDecoder()
        var expectedMetadata = metadata(pair)
        expectedMetadata.tensors.removeAll { $0 == pair.reference.unchanged }
        XCTAssertEqual(try decoder.decode(DeltaMetadata.self, from: Data(contentsOf: directory.appendingPathComponent("readapt_delta.json"))),
                       expectedMetadata, "tensors lists what has a delta: not the module left out")
        XCTAssertEqual(try decoder.decode(LoREReport.self, from: Data(contentsOf: directory.appendingPathComponent("lore_report.json"))),
                       report)
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: directory.path).contains { $0.hasPrefix(".") },
                       "no scratch file may be left behind")

        if let export = ProcessInfo.processInfo.environment["READAPT_LORE_EXPORT_DIR"] {
            try? FileManager.default.removeItem(atPath: export)
            try FileManager.default.copyItem(at: directory, to: URL(fileURLWithPath: export))
        }

        // What PEFT checked (peft_check.json) is what we write today, and it matched numpy.
        let check = try jsonObject(Self.directory.appendingPathComponent("peft_check.json"))
        XCTAssertLessThanOrEqual(try XCTUnwrap(check["max_abs_diff_peft_merge_and_unload"] as? Double), 1e-5)
        XCTAssertLessThanOrEqual(try XCTUnwrap(check["max_abs_diff_llama_cpp_rule"] as? Double), 1e-5)
        XCTAssertEqual(check["ranks_match_numpy_tau_0_5"] as? Bool, true)
        XCTAssertEqual(check["adapter_config"] as? NSDictionary, config,
                       "adapter_config.json changed: re-run scripts/fixtures/check_lore_with_peft.py")
        let checkedTensors = try XCTUnwrap(check["tensors"] as? [String: [Int]])
        XCTAssertEqual(checkedTensors, Dictionary(uniqueKeysWithValues: weights.entries.map { ($0.info.name, $0.info.shape) }))
    }

    /// What `merge` reads back from the adapter (DeltaCheckpointAdapter, kind lore): numpy's Δ_k for
    /// every linear weight (within 1e-5·max|Δ|), the exact dense delta for the rest, nothing for the
    /// module left out.
    func testMergeReadsTheAdapterBackAsNumpysDeltas() throws {
        let pair = try loadPair()
        let (staging, _) = try write(pair, options: LoREOptions(selection: .explainedVariance(0.5), method: .exact))
        let adapter = try DeltaCheckpointAdapter(directory: staging.url)
        try adapter.validate(against: pair.base, baseConfigFile: nil)
        let approximations = try SafetensorsFile(url: Self.directory.appendingPathComponent("pair_delta_k.safetensors"))
        for name in pair.base.tensorNames {
            let delta = try adapter.delta(for: name, base: try pair.base.load(name))
            if name == pair.reference.unchanged {
                XCTAssertNil(delta, name)
            } else if pair.linear.contains(where: { $0.name == name }) {
                let got = try XCTUnwrap(delta, name), expected = try approximations.load(name)
                let scale = Double(try pair.delta(name).scalars.map { abs($0) }.max() ?? 0)
                let worst = zip(got.scalars, expected.scalars).map { abs(Double($0) - Double($1)) }.max() ?? 0
                XCTAssertLessThanOrEqual(worst, 1e-5 * scale, name)
            } else {
                XCTAssertEqual(delta, try pair.delta(name), name)
            }
        }
    }

    /// The randomized method picks numpy's ranks on the pair too (certified from a sketch for some
    /// modules, exact fallback for the rest), and its factors keep what Ky Fan guarantees.
    func testRandomizedPairRanks() throws {
        let pair = try loadPair()
        let (_, report) = try write(pair, options: LoREOptions(selection: .explainedVariance(0.5), method: .randomized))
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: report.matrices.map { ($0.name, $0.rank) }), pair.reference.ranks)
        XCTAssertTrue(report.matrices.contains { $0.solver == "randomized" })
        XCTAssertTrue(report.matrices.contains { $0.solver == "exact_fallback" })
        XCTAssertEqual(report.method, "randomized")
    }

    func testParameterBudgetMatchesNumpysGreedyAndStaysWithinTheBudget() throws {
        let pair = try loadPair()
        for method in SVDMethod.allCases {
            let (_, report) = try write(pair, options: LoREOptions(selection: .parameterBudget(pair.reference.budget_share),
                                                                   method: method))
            XCTAssertEqual(Dictionary(uniqueKeysWithValues: report.matrices.map { ($0.name, $0.rank) }),
                           pair.reference.budget_ranks, "\(method)")
            XCTAssertLessThanOrEqual(Double(report.parametersKept), pair.reference.budget_share * Double(report.parametersFull))
            XCTAssertEqual(report.selection, "parameter_budget")
        }
    }

    func testBF16FactorsAndMaxRank() throws {
        let pair = try loadPair()
        let (staging, report) = try write(pair, options: LoREOptions(selection: .explainedVariance(0.9), maxRank: 3,
                                                                     method: .exact, outputDType: .bf16))
        XCTAssertEqual(report.adapterRank, 3)
        XCTAssertTrue(report.matrices.contains { $0.selectedRank > 3 && $0.rank == 3 })
        let weights = try SafetensorsFile(url: staging.url.appendingPathComponent("adapter_model.safetensors"))
        XCTAssertTrue(weights.entries.allSatisfy { $0.info.dtype == .bf16 })
        let companion = try SafetensorsFile(url: staging.url.appendingPathComponent("readapt_dense_delta.safetensors"))
        XCTAssertTrue(companion.entries.allSatisfy { $0.info.dtype == .bf16 })
    }

    func testBadDeltasAndOptionsAreClearErrors() throws {
        let pair = try loadPair()
        let broken = "model.layers.3.mlp.up_proj.weight"
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("lore-bad-\(UUID().uuidString)")
        let staging = try StagingDirectory(output: output, replace: false)
        XCTAssertThrowsError(try LoREExtraction.write(
            linear: pair.linear, dense: pair.dense,
            loadDelta: { name in
                var delta = try pair.delta(name)
                if name == broken { delta.scalars[17] = .nan }
                return delta
            },
            options: LoREOptions(selection: .explainedVariance(0.5)), metadata: metadata(pair),
            baseModelPath: "b", to: staging.url)) { error in
            XCTAssertEqual(error as? LowRankError, .nonFinite(name: broken))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: staging.file("adapter_model.safetensors").path))

        for (options, expected) in [
            (LoREOptions(selection: .explainedVariance(0.5), maxRank: 0), LowRankError.invalidMaxRank(0)),
            (LoREOptions(selection: .explainedVariance(0)), .invalidThreshold(0)),
            (LoREOptions(selection: .parameterBudget(1.5)), .invalidShare(1.5)),
        ] {
            let empty = try StagingDirectory(output: output.appendingPathExtension("2"), replace: false)
            XCTAssertThrowsError(try LoREExtraction.write(linear: pair.linear, dense: pair.dense, loadDelta: pair.delta,
                                                          options: options, metadata: metadata(pair),
                                                          baseModelPath: "b", to: empty.url)) {
                XCTAssertEqual($0 as? LowRankError, expected)
            }
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: empty.url.path), [], "nothing written")
        }

        var notLinear = pair.linear
        notLinear[0].name = "model.layers.0.self_attn.q_proj.bias"
        XCTAssertThrowsError(try LoREExtraction.write(linear: notLinear, dense: [], loadDelta: pair.delta,
                                                      options: LoREOptions(selection: .explainedVariance(0.5)),
                                                      metadata: metadata(pair), baseModelPath: "b", to: staging.url)) {
            XCTAssertEqual($0 as? LowRankError, .notALinearWeight(name: "model.layers.0.self_attn.q_proj.bias"))
        }
    }
}
