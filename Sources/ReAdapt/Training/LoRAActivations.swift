import Foundation

/// What one adapted module's forward saves for its backward.
final class LoRAModuleActivations {
    /// u = x_d·Aᵀ, [rows, rank].
    let u: TrainingBuffer
    /// DoRA only: pre = x_d·Wᵀ + scale·u·Bᵀ [rows, out], the row norms n [out] and s = m / n [out].
    let pre: TrainingBuffer?, norms: TrainingBuffer?, scales: TrainingBuffer?

    init(rows: Int, slots m: LoRAModuleSlots, settings: LoRASettings) {
        u = TrainingBuffer(count: rows * settings.rank)
        pre = settings.useDoRA ? TrainingBuffer(count: rows * m.outFeatures) : nil
        norms = settings.useDoRA ? TrainingBuffer(count: m.outFeatures) : nil
        scales = settings.useDoRA ? TrainingBuffer(count: m.outFeatures) : nil
    }

    var floatCount: Int { [u, pre, norms, scales].reduce(0) { $0 + ($1?.count ?? 0) } }
}

/// The adapter's saved activations (per layer, per module) and the scratch its forward and backward
/// reuse from module to module.
final class LoRAActivations {
    let modules: [[LoRATargetModule: LoRAModuleActivations]]
    /// dropout(x) [rows, in] (forward, and regenerated in the backward).
    let droppedInput: TrainingBuffer
    /// The LoRA term scale·u·Bᵀ in DoRA's forward; g = s⊙dy in DoRA's backward. [rows, out]
    let term: TrainingBuffer
    /// du = scale·g·B [rows, rank].
    let du: TrainingBuffer
    /// d(loss)/d(x_d) [rows, in].
    let droppedInputGradient: TrainingBuffer
    /// B·A [out, in] for DoRA's weight norm.
    let product: TrainingBuffer

    init(layout: LoRALayout, rows: Int) {
        let sizes = Self.sizes(layout: layout, rows: rows)
        modules = layout.layers.map { layer in
            layer.mapValues { LoRAModuleActivations(rows: rows, slots: $0, settings: layout.settings) }
        }
        droppedInput = TrainingBuffer(count: sizes.droppedInput)
        term = TrainingBuffer(count: sizes.term)
        du = TrainingBuffer(count: rows * layout.settings.rank)
        droppedInputGradient = TrainingBuffer(count: sizes.droppedInputGradient)
        product = TrainingBuffer(count: sizes.product)
    }

    private static func sizes(layout: LoRALayout, rows: Int)
        -> (droppedInput: Int, term: Int, droppedInputGradient: Int, product: Int) {
        let all = layout.layers.flatMap(\.values)
        let maxIn = all.map(\.inFeatures).max() ?? 0, maxOut = all.map(\.outFeatures).max() ?? 0
        let s = layout.settings
        return (s.dropout > 0 ? rows * maxIn : 0, s.useDoRA ? rows * maxOut : 0, rows * maxIn,
                s.useDoRA ? (all.map { $0.inFeatures * $0.outFeatures }.max() ?? 0) : 0)
    }

    /// The floats `LoRAActivations(layout:rows:)` allocates, without allocating.
    static func floatCount(layout: LoRALayout, rows: Int) -> Int {
        let s = layout.settings, sz = sizes(layout: layout, rows: rows)
        let saved = layout.layers.flatMap(\.values).reduce(0) {
            $0 + rows * s.rank + (s.useDoRA ? rows * $1.outFeatures + 2 * $1.outFeatures : 0)
        }
        return saved + sz.droppedInput + sz.term + rows * s.rank + sz.droppedInputGradient + sz.product
    }

    var floatCount: Int {
        modules.flatMap(\.values).reduce(0) { $0 + $1.floatCount }
            + [droppedInput, term, du, droppedInputGradient, product].reduce(0) { $0 + $1.count }
    }
}
