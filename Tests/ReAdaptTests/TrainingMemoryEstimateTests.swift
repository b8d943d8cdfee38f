import Foundation
import XCTest
@testable import ReAdapt

/// The estimate must be the sizes the model and optimizer really allocate, for every method.
final class TrainingMemoryEstimateTests: XCTestCase {
    func check(_ name: String, _ method: TrainingMethod) throws {
        let dir = try TrainingModelTests.directory(name)
        let model = try TrainableModel.load(directory: dir, batchSize: 3, sequenceLength: 5, method: method)
        let optimizer = try AdamW(model: model)
        let estimate = TrainingMemoryEstimate(spec: model.spec, method: method, batchSize: 3, sequenceLength: 5)
        let allocated = model.parameters.count
            + (model.lora == nil ? 0 : model.trainable.values.count)
            + model.gradients.count + optimizer.expAvg.count + optimizer.expAvgSq.count
            + model.activationFloatCount
        XCTAssertEqual(estimate.totalBytes - TrainingMemoryEstimate.runtimeAllowance, allocated * 4, "\(name) \(method.name)")
        XCTAssertTrue(TrainingMemoryReport.breakdown(estimate).contains("AdamW moments"))
    }

    func testEstimateEqualsAllocations() throws {
        try check("llama", .full)
        try check("qwen2", .full)
        try check("llama_bias", .lora(LoRASettings(rank: 4, alpha: 8, dropout: 0.1)))
        try check("gemma", .lora(LoRASettings(rank: 2, alpha: 8, dropout: 0, useDoRA: true, targets: [.q, .down])))
        try check("mistral", .lora(LoRASettings(rank: 3, alpha: 8, dropout: 0.05, useDoRA: true)))
    }

    /// LoRA's gradients and moments cover only the adapter: far smaller than full fine-tuning's.
    func testLoRAStateIsAdapterSized() throws {
        let spec = try ModelSpec(ModelConfig.load(TrainingModelTests.directory("llama").appendingPathComponent("config.json")),
                                 file: URL(fileURLWithPath: "config.json"))
        let full = TrainingMemoryEstimate(spec: spec, method: .full, batchSize: 2, sequenceLength: 8)
        let lora = TrainingMemoryEstimate(spec: spec, method: .lora(LoRASettings(rank: 2, alpha: 4)), batchSize: 2, sequenceLength: 8)
        let gradients = { (e: TrainingMemoryEstimate) in e.parts.first { $0.name == "gradients" }!.bytes }
        XCTAssertLessThan(gradients(lora) * 4, gradients(full))
    }
}
