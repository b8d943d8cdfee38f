/// Element types found in checkpoint files. Raw values are safetensors' dtype strings.
public enum DType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"
    case f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"
    case u16 = "U16", u32 = "U32", u64 = "U64"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: return 1
        }
    }
}

/// What a checkpoint says about one tensor, without reading its data.
public struct TensorInfo: Equatable, Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]

    public init(name: String, dtype: DType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A set of named tensors read lazily, one at a time (a safetensors file or shard set, a GGUF
/// file, an adapter). Models load through this protocol, never through a particular format.
public protocol TensorSource {
    /// Every tensor name, sorted.
    var tensorNames: [String] { get }
    /// Header information for `name`, or nil if there is no such tensor.
    func info(_ name: String) -> TensorInfo?
    /// The tensor converted to Float32. Throws a clear error for unsupported dtypes.
    func load(_ name: String) throws -> Tensor
}
