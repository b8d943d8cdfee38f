import Foundation

/// torch.nn.utils.clip_grad_norm_ with the L2 norm over one flat gradient buffer.
public enum GradientClipping {
    /// Scales the gradients by min(1, maxNorm / (total + 1e-6)), where total is the L2 norm of all
    /// of them together, and returns total (before clipping). Like torch, the scale is applied
    /// even when it is 1, and a non-finite total (a NaN/inf gradient) propagates rather than throws.
    /// The sum of squares is accumulated in Double; the coefficient is F32 as torch computes it.
    @discardableResult
    public static func clipGlobalNorm(_ gradients: UnsafeMutablePointer<Float>, count: Int,
                                      maxNorm: Double) -> Float {
        let total = globalNorm(UnsafePointer(gradients), count: count)
        let coefficient = min(Float(maxNorm) / (total + 1e-6), 1)
        if coefficient != 1 {
            for i in 0..<count { gradients[i] *= coefficient }
        }
        return total
    }

    /// Clips a model's gradient buffer; returns the total norm before clipping.
    @discardableResult
    public static func clipGlobalNorm(_ model: TrainableModel, maxNorm: Double) -> Float {
        clipGlobalNorm(model.gradients.pointer, count: model.gradients.count, maxNorm: maxNorm)
    }

    /// The L2 norm of `count` values.
    public static func globalNorm(_ values: UnsafePointer<Float>, count: Int) -> Float {
        // Four partial sums so the loop vectorises; Double keeps 10⁸ squares exact enough.
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        var i = 0
        while i + 4 <= count {
            let a = Double(values[i]), b = Double(values[i + 1])
            let c = Double(values[i + 2]), d = Double(values[i + 3])
            s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d
            i += 4
        }
        while i < count { s0 += Double(values[i]) * Double(values[i]); i += 1 }
        return Float(((s0 + s1) + (s2 + s3)).squareRoot())
    }
}
