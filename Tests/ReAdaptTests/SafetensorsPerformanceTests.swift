import Foundation
import XCTest
import ReAdapt

/// Load/write throughput on a large file. Skipped unless READAPT_BENCH=1, because timings are
/// meaningless in debug builds and on a busy CI machine. Run with:
///   READAPT_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter SafetensorsPerformanceTests
final class SafetensorsPerformanceTests: XCTestCase {
    func testLoadAndWriteThroughput() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["READAPT_BENCH"] == "1", "set READAPT_BENCH=1")
        let dir = try SafetensorsFixtures.temporaryDirectory(self)
        let count = 32 << 20   // 32 Mi elements per tensor
        var rng = SystemRandomNumberGenerator()
        let values = (0..<count).map { _ in Float.random(in: -2...2, using: &rng) }
        let infos = [DType.f32, .f16, .bf16].map { TensorInfo(name: "w.\($0.rawValue)", dtype: $0, shape: [count / 1024, 1024]) }
        let url = dir.appendingPathComponent("big.safetensors")

        func best(_ runs: Int, _ body: () throws -> Void) rethrows -> Double {
            var best = Double.infinity
            for _ in 0..<runs {
                let start = DispatchTime.now().uptimeNanoseconds
                try body()
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            return best
        }
        let tensor = Tensor(shape: [count / 1024, 1024], scalars: values)
        let writeTime = try best(3) {
            let writer = try SafetensorsWriter(url: url, tensors: infos)
            for info in infos { try writer.write(info.name, tensor) }
            try writer.finish()
        }
        let file = try SafetensorsFile(url: url)
        print(String(format: "write 3 tensors (%d MiB file): best %.3f s", file.entries.last!.dataRange.upperBound >> 20, writeTime))
        for info in infos {
            _ = try file.load(info.name)   // fault the pages in once
            let seconds = try best(5) { _ = try file.load(info.name) }
            let bytes = Double(count * info.dtype.size)
            print(String(format: "load %@: best %.4f s = %.2f GB/s read, %.2f Gelem/s (F16C: %@)", info.dtype.rawValue,
                         seconds, bytes / seconds / 1e9, Double(count) / seconds / 1e9,
                         HalfPrecisionConversion.usesF16C ? "yes" : "no"))
        }
        XCTAssertEqual(try file.load("w.F32").scalars, values)
    }
}

/// Opening and loading every tensor of a real checkpoint directory, if one is named by
/// READAPT_BENCH_CHECKPOINT (e.g. SmolLM2-135M saved as BF16 shards).
final class SafetensorsCheckpointLoadBenchmark: XCTestCase {
    func testLoadWholeCheckpoint() throws {
        guard let path = ProcessInfo.processInfo.environment["READAPT_BENCH_CHECKPOINT"] else {
            throw XCTSkip("set READAPT_BENCH_CHECKPOINT to a checkpoint directory")
        }
        var best = (open: Double.infinity, load: Double.infinity)
        var summary = ""
        for _ in 0..<3 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let checkpoint = try SafetensorsCheckpoint(directory: URL(fileURLWithPath: path))
            let t1 = DispatchTime.now().uptimeNanoseconds
            var elements = 0
            var dtypes = Set<String>()
            var kept: [Tensor] = []   // keep everything, as a model load would
            for name in checkpoint.tensorNames {
                kept.append(try checkpoint.load(name))
                elements += kept.last!.count
                dtypes.insert(checkpoint.info(name)!.dtype.rawValue)
            }
            let t2 = DispatchTime.now().uptimeNanoseconds
            best.open = min(best.open, Double(t1 - t0) / 1e9)
            best.load = min(best.load, Double(t2 - t1) / 1e9)
            summary = "\(checkpoint.files.count) files, \(checkpoint.tensorNames.count) tensors, \(elements) elements, \(dtypes.sorted())"
        }
        print(String(format: "checkpoint %@: open best %.4f s, load all best %.3f s", summary, best.open, best.load))
    }
}
