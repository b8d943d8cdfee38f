import Foundation

/// Where one adapted linear layer's adapter tensors sit in the adapter buffer.
struct LoRAModuleSlots {
    var module: LoRATargetModule
    var inFeatures: Int, outFeatures: Int
    /// lora_A [rank, in], lora_B [out, rank], and DoRA's lora_magnitude_vector [out] (nil for LoRA).
    var a: Int, b: Int, magnitude: Int?
}

/// The layout of a LoRA/DoRA adapter's tensors in one flat buffer, named as PEFT saves them in
/// adapter_model.safetensors (`base_model.model.` + the module path + `.lora_A.weight`,
/// `.lora_B.weight`, `.lora_magnitude_vector`) and ordered as PEFT's `named_parameters()`: layer by
/// layer, module by module, A then B then the magnitude.
struct LoRALayout {
    let settings: LoRASettings
    let slots: [ParameterSlot]
    /// Per decoder layer, the adapted modules keyed by module.
    let layers: [[LoRATargetModule: LoRAModuleSlots]]
    let totalCount: Int

    init(spec: ModelSpec, settings: LoRASettings) {
        self.settings = settings
        var slots: [ParameterSlot] = []
        var next = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let slot = ParameterSlot(name: name, shape: shape, offset: next)
            slots.append(slot)
            next += slot.count
            return slot.offset
        }
        let r = settings.rank
        var layers: [[LoRATargetModule: LoRAModuleSlots]] = []
        for l in 0..<spec.layerCount {
            var modules: [LoRATargetModule: LoRAModuleSlots] = [:]
            for module in settings.targets {
                let (inF, outF) = Self.features(module, spec: spec)
                let prefix = "base_model.model.model.layers.\(l).\(module.path)."
                let a = add(prefix + "lora_A.weight", [r, inF])
                let b = add(prefix + "lora_B.weight", [outF, r])
                let m = settings.useDoRA ? add(prefix + "lora_magnitude_vector", [outF]) : nil
                modules[module] = LoRAModuleSlots(module: module, inFeatures: inF, outFeatures: outF, a: a, b: b, magnitude: m)
            }
            layers.append(modules)
        }
        self.layers = layers
        self.slots = slots
        totalCount = next
    }

    /// (in, out) features of a module's weight.
    static func features(_ module: LoRATargetModule, spec: ModelSpec) -> (Int, Int) {
        switch module {
        case .q: return (spec.hiddenSize, spec.queryWidth)
        case .k, .v: return (spec.hiddenSize, spec.kvWidth)
        case .o: return (spec.queryWidth, spec.hiddenSize)
        case .gate, .up: return (spec.hiddenSize, spec.intermediateSize)
        case .down: return (spec.intermediateSize, spec.hiddenSize)
        }
    }

    /// The base model's weight name a module adapts, e.g. `model.layers.3.self_attn.q_proj.weight`.
    static func baseWeightName(layer: Int, module: LoRATargetModule) -> String {
        "model.layers.\(layer).\(module.path).weight"
    }
}
