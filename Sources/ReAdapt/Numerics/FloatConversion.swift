import CKernels

/// Bulk conversions between Float32 and the 16-bit formats found in checkpoints, bit-exact
/// with PyTorch's `.to(dtype)`: widening is exact; narrowing rounds to nearest, ties to even,
/// and keeps NaN a NaN. Half-precision values travel as their raw `UInt16` bit patterns.
public enum FloatConversion {
    /// Widens F16 or BF16 bit patterns to Float32. `format` must be `.f16` or `.bf16`.
    public static func widen(_ source: UnsafeBufferPointer<UInt16>, format: HalfFormat,
                             into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(destination.count >= source.count, "widen: destination too small")
        guard let src = source.baseAddress, let dst = destination.baseAddress else { return }
        switch format {
        case .f16: ck_convert_f16_to_f32(ck_simd_level(), src, dst, source.count)
        case .bf16: ck_convert_bf16_to_f32(ck_simd_level(), src, dst, source.count)
        }
    }

    /// Rounds Float32 values to F16 or BF16 bit patterns.
    public static func narrow(_ source: UnsafeBufferPointer<Float>, format: HalfFormat,
                              into destination: UnsafeMutableBufferPointer<UInt16>) {
        precondition(destination.count >= source.count, "narrow: destination too small")
        guard let src = source.baseAddress, let dst = destination.baseAddress else { return }
        switch format {
        case .f16: ck_convert_f32_to_f16(ck_simd_level(), src, dst, source.count)
        case .bf16: ck_convert_f32_to_bf16(ck_simd_level(), src, dst, source.count)
        }
    }

    /// Array convenience for `widen`.
    public static func widen(_ bits: [UInt16], format: HalfFormat) -> [Float] {
        [Float](unsafeUninitializedCapacity: bits.count) { buffer, initialized in
            bits.withUnsafeBufferPointer { widen($0, format: format, into: buffer) }
            initialized = bits.count
        }
    }

    /// Array convenience for `narrow`.
    public static func narrow(_ values: [Float], format: HalfFormat) -> [UInt16] {
        [UInt16](unsafeUninitializedCapacity: values.count) { buffer, initialized in
            values.withUnsafeBufferPointer { narrow($0, format: format, into: buffer) }
            initialized = values.count
        }
    }
}

/// The two 16-bit floating-point formats: IEEE half (F16) and bfloat16 (BF16).
public enum HalfFormat: String, Sendable, CaseIterable {
    case f16, bf16

    /// The checkpoint dtype with this layout.
    public var dtype: DType { self == .f16 ? .f16 : .bf16 }
}
