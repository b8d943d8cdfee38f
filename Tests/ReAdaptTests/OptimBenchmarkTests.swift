import Foundation
import XCTest
@testable import ReAdapt

/// Timing of one AdamW step and one clip over SmolLM2-135M's parameter count (2.2 GB of buffers),
/// best of 5. Skipped unless READAPT_OPTIM_BENCH=1; run it in release:
/// `READAPT_OPTIM_BENCH=1 swift test -c release --filter OptimBenchmarkTests`.
final class OptimBenchmarkTests: XCTestCase {
    func testAdamWAndClipTiming() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["READAPT_OPTIM_BENCH"] == "1",
                          "set READAPT_OPTIM_BENCH=1 to time AdamW on 134.5 M parameters")
        let n = 134_515_008
        let p = TrainingBuffer(count: n), g = TrainingBuffer(count: n)
        for i in 0..<n { p.pointer[i] = Float(i % 97) * 0.01; g.pointer[i] = Float(i % 89) * 0.001 - 0.04 }
        let optimizer = try AdamW(parameterCount: n, noDecayRanges: [1000..<2000])
        var bestStep = Double.infinity, bestClip = Double.infinity
        for _ in 0..<5 {
            let t0 = Date()
            optimizer.step(parameters: p.pointer, gradients: g.pointer, learningRate: 1e-3)
            let t1 = Date()
            GradientClipping.clipGlobalNorm(g.pointer, count: n, maxNorm: 1e9)
            let t2 = Date()
            bestStep = min(bestStep, t1.timeIntervalSince(t0))
            bestClip = min(bestClip, t2.timeIntervalSince(t1))
        }
        print(String(format: "AdamW step over %d parameters: %.4f s; clipGlobalNorm: %.4f s (best of 5)",
                     n, bestStep, bestClip))
    }
}
