import Foundation
import XCTest
@testable import ReAdapt

/// Speed on a real-size checkpoint, only when READAPT_MODEL_BENCH_DIR names one (see
/// scripts/bench/make_smollm2_shaped.py); run in release:
/// READAPT_MODEL_BENCH_DIR=... swift test -c release -Xswiftc -enable-testing --filter ModelBenchmarkTests
final class ModelBenchmarkTests: XCTestCase {
    func testPrefillAndDecodeSpeed() throws {
        guard let dir = ProcessInfo.processInfo.environment["READAPT_MODEL_BENCH_DIR"] else {
            throw XCTSkip("set READAPT_MODEL_BENCH_DIR to a model directory to measure speed")
        }
        let env = ProcessInfo.processInfo.environment
        let prompt = Int(env["READAPT_MODEL_BENCH_PROMPT"] ?? "") ?? 512
        let new = Int(env["READAPT_MODEL_BENCH_NEW"] ?? "") ?? 128
        let loadStart = Date()
        let storage = WeightStorage(rawValue: env["READAPT_WEIGHT_PRECISION"] ?? "f32") ?? .f32
        let model = try LanguageModel.load(directory: URL(fileURLWithPath: dir), storage: storage)
        print(String(format: "readapt load: %.2f s", Date().timeIntervalSince(loadStart)))
        let r = try ModelBenchmark.run(model: model, promptLength: prompt, newTokens: new, repeats: 3)
        print(String(format: "readapt (\(storage.rawValue)) prefill %d tokens: %.1f ms = %.1f tok/s; decode %d tokens: %.1f tok/s",
                     r.promptTokens, r.prefillSeconds * 1000, r.prefillTokensPerSecond,
                     r.decodeTokens, r.decodeTokensPerSecond))
        XCTAssertGreaterThan(r.decodeTokens, 0)
        if env["READAPT_MODEL_BENCH_TRACE"] != nil {
            var last = Date()
            _ = try Generator(model: model, eosTokenIDs: []).generate(prompt: [1, 2, 3], maxTokens: 12) { _ in
                print(String(format: "  token after %.1f ms", Date().timeIntervalSince(last) * 1000))
                last = Date()
            }
        }
    }
}
