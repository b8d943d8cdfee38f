import CKernels

/// Bulk conversions between Float32 and the 16-bit float formats found in checkpoints, backed by
/// C kernels (F16C when the CPU has it). Pointers may be unaligned; `count` is in elements.
///
/// F16/BF16 → F32 is exact. F32 → F16/BF16 rounds to nearest even exactly as PyTorch's CPU
/// `.to(torch.float16 / torch.bfloat16)`: overflow to F16 gives infinity; F16 NaNs keep their top
/// payload bits and become quiet; every BF16 NaN is written as 0xFFFF.
public enum HalfPrecisionConversion {
    public static func f16ToF32(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        ck_st_f16_to_f32(src, dst, count)
    }

    public static func bf16ToF32(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        ck_st_bf16_to_f32(src, dst, count)
    }

    public static func f32ToF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, count: Int) {
        ck_st_f32_to_f16(src, dst, count)
    }

    public static func f32ToBF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, count: Int) {
        ck_st_f32_to_bf16(src, dst, count)
    }

    /// The plain scalar versions the fast paths are tested against.
    static func referenceF16ToF32(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        ck_st_f16_to_f32_ref(src, dst, count)
    }

    static func referenceF32ToF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, count: Int) {
        ck_st_f32_to_f16_ref(src, dst, count)
    }

    /// Whether the F16C (AVX2) path is in use on this CPU.
    public static var usesF16C: Bool { ck_st_has_f16c() != 0 }
}
