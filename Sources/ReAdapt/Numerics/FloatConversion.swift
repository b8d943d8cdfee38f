import CKernels

/// The one set of bulk conversions between Float32 and the 16-bit formats found in checkpoints
/// (C kernels in CKernels/convert.c: scalar reference, AVX2+F16C and AVX-512 paths chosen by
/// `ck_simd_level()`), bit-exact with PyTorch's CPU `tensor.to(dtype)`:
/// widening is exact; narrowing rounds to nearest, ties to even; F32 → F16 overflow gives
/// infinity and F16 NaNs keep sign and top payload bits (made quiet); every F32 → BF16 NaN is
/// written as 0xFFFF, as torch's vectorised CPU kernel does. Half-precision values travel as raw
/// `UInt16` bit patterns (little-endian in memory); raw pointers may be unaligned.
public enum FloatConversion {
    /// Widens `count` F16 or BF16 values at `source` (possibly unaligned) into `destination`.
    public static func widen(_ source: UnsafeRawPointer, format: HalfFormat,
                             into destination: UnsafeMutablePointer<Float>, count: Int) {
        switch format {
        case .f16: ck_convert_f16_to_f32(ck_simd_level(), source, destination, count)
        case .bf16: ck_convert_bf16_to_f32(ck_simd_level(), source, destination, count)
        }
    }

    /// Rounds `count` Float32 values to F16 or BF16 bit patterns at `destination` (possibly unaligned).
    public static func narrow(_ source: UnsafePointer<Float>, format: HalfFormat,
                              into destination: UnsafeMutableRawPointer, count: Int) {
        switch format {
        case .f16: ck_convert_f32_to_f16(ck_simd_level(), source, destination, count)
        case .bf16: ck_convert_f32_to_bf16(ck_simd_level(), source, destination, count)
        }
    }

    /// Widens F16 or BF16 bit patterns to Float32.
    public static func widen(_ source: UnsafeBufferPointer<UInt16>, format: HalfFormat,
                             into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(destination.count >= source.count, "widen: destination too small")
        guard let src = source.baseAddress, let dst = destination.baseAddress else { return }
        widen(UnsafeRawPointer(src), format: format, into: dst, count: source.count)
    }

    /// Rounds Float32 values to F16 or BF16 bit patterns.
    public static func narrow(_ source: UnsafeBufferPointer<Float>, format: HalfFormat,
                              into destination: UnsafeMutableBufferPointer<UInt16>) {
        precondition(destination.count >= source.count, "narrow: destination too small")
        guard let src = source.baseAddress, let dst = destination.baseAddress else { return }
        narrow(src, format: format, into: UnsafeMutableRawPointer(dst), count: source.count)
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
