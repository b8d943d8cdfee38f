import Foundation
import XCTest
@testable import ReAdapt

/// Fixtures of scripts/fixtures/make_adapter_fixtures.py and helpers shared by the Adapter*/Merge* tests.
enum AdapterFixtures {
    static var root: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("adapters")
    }

    static func url(_ name: String) -> URL { root.appendingPathComponent(name) }

    static var base: URL { url("base") }

    static var example: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Examples/tiny-biographies")
    }

    static func cases() throws -> [String: Any] {
        let data = try Data(contentsOf: url("cases.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// A fresh directory removed at the end of the test.
    static func temporaryDirectory(_ testCase: XCTestCase) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("readapt-adapters-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        testCase.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// A copy of fixture directory `name` inside `directory`, for tests that damage it.
    static func copy(_ name: String, into directory: URL, as newName: String? = nil) throws -> URL {
        let target = directory.appendingPathComponent(newName ?? name)
        try FileManager.default.copyItem(at: url(name), to: target)
        return target
    }

    /// Writes a PEFT-layout adapter directory: `config` merged over a plain LoRA config, and the
    /// tensors (F32) under their full keys.
    static func writePEFTAdapter(at directory: URL, config: [String: Any], tensors: [String: Tensor]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var fields: [String: Any] = ["peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"],
                                     "bias": "none", "fan_in_fan_out": false, "use_dora": false]
        for (k, v) in config { fields[k] = v }
        try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
            .write(to: directory.appendingPathComponent("adapter_config.json"))
        let names = tensors.keys.sorted()
        let writer = try SafetensorsWriter(url: directory.appendingPathComponent("adapter_model.safetensors"),
                                           tensors: names.map { TensorInfo(name: $0, dtype: .f32, shape: tensors[$0]!.shape) })
        for name in names { try writer.write(name, tensors[name]!) }
        try writer.finish()
    }

    /// A rank-`r` LoRA pair for `module` of shape [out, in] filled with `value`.
    static func loraPair(_ module: String, out: Int, in inputs: Int, r: Int = 2, value: Float = 0.1) -> [String: Tensor] {
        ["base_model.model.\(module).lora_A.weight": Tensor(shape: [r, inputs], scalars: [Float](repeating: value, count: r * inputs)),
         "base_model.model.\(module).lora_B.weight": Tensor(shape: [out, r], scalars: [Float](repeating: value, count: out * r))]
    }

    /// Merges `specs` (paths relative to the fixtures) into `output` with the library.
    @discardableResult
    static func merge(_ specs: [String], layerScale: [String] = [], output: URL,
                      options: MergeOptions = MergeOptions()) throws -> MergeSummary {
        let parsed = try specs.map { spec -> AdapterSpec in
            var s = try AdapterSpec(parsing: spec)
            if !s.path.hasPrefix("/") { s.path = url(s.path).path }
            return s
        }
        let stack = try AdapterStack(specs: parsed, layerScale: LayerScale(specs: layerScale))
        return try ModelMerger.merge(base: base, stack: stack, output: output, options: options)
    }

    /// Asserts every tensor of `golden` (a safetensors file) is within `tolerance` of the checkpoint in
    /// `directory`, and that both hold the same tensor names.
    static func assertMatchesGolden(_ directory: URL, golden: URL, tolerance: Float = 1e-5,
                                    file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try SafetensorsCheckpoint(url: golden)
        let actual = try SafetensorsCheckpoint(directory: directory)
        XCTAssertEqual(actual.tensorNames, expected.tensorNames, file: file, line: line)
        for name in expected.tensorNames {
            let e = try expected.load(name), a = try actual.load(name)
            XCTAssertEqual(a.shape, e.shape, name, file: file, line: line)
            guard a.shape == e.shape else { continue }
            let worst = maxAbsDiff(a.scalars[...], e.scalars[...])
            XCTAssertLessThanOrEqual(worst, tolerance, "\(name) differs from the golden by \(worst)", file: file, line: line)
        }
    }

    /// The description of the error `body` throws (fails the test if it does not throw).
    static func errorDescription(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            try body()
            XCTFail("expected an error", file: file, line: line)
            return ""
        } catch {
            return String(describing: error)
        }
    }
}
