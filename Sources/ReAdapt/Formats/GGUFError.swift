/// Everything that can be wrong with a GGUF file or a request to read one.
///
/// `file` is the file's last path component; each description is one sentence naming the file
/// and the fault.
public enum GGUFError: Error, CustomStringConvertible, Equatable, Sendable {
    case cannotOpen(file: String, reason: String)
    case badMagic(file: String)
    case unsupportedVersion(file: String, version: UInt32)
    case bigEndian(file: String)
    case truncated(file: String, what: String, offset: Int)
    case countTooLarge(file: String, what: String, count: UInt64)
    case invalidMetadata(file: String, key: String, reason: String)
    case duplicateKey(file: String, key: String)
    case invalidAlignment(file: String, value: String)
    case duplicateTensor(file: String, tensor: String)
    case invalidShape(file: String, tensor: String, reason: String)
    case unknownTensorType(file: String, tensor: String, type: UInt32)
    case unalignedOffset(file: String, tensor: String, offset: UInt64, alignment: Int)
    case sizeOverflow(file: String, tensor: String)
    case dataOutOfRange(file: String, tensor: String, end: UInt64, dataSize: Int)
    case overlappingTensors(file: String, first: String, second: String)
    case tensorNotFound(file: String, tensor: String)
    case unsupportedTensorType(file: String, tensor: String, type: String)
    case unsupportedArchitecture(file: String, architecture: String)
    case missingMetadata(file: String, key: String)
    case unsupportedRopeFrequencies(file: String)
    case inconsistentTensor(file: String, tensor: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(file, reason):
            return "\(file): cannot be opened (\(reason))."
        case let .badMagic(file):
            return "\(file): does not start with the magic bytes 'GGUF', so it is not a GGUF file."
        case let .unsupportedVersion(file, version):
            return "\(file): is GGUF version \(version), but only versions 2 and 3 are supported."
        case let .bigEndian(file):
            return "\(file): is a big-endian GGUF file, which ReAdapt cannot read (convert it to little-endian)."
        case let .truncated(file, what, offset):
            return "\(file): ends at byte \(offset) in the middle of \(what) (the file is truncated or corrupt)."
        case let .countTooLarge(file, what, count):
            return "\(file): declares \(count) \(what), more than the file could possibly hold (corrupt header)."
        case let .invalidMetadata(file, key, reason):
            return "\(file): metadata key '\(key)' \(reason)."
        case let .duplicateKey(file, key):
            return "\(file): metadata key '\(key)' appears more than once."
        case let .invalidAlignment(file, value):
            return "\(file): general.alignment is \(value), but it must be a positive power of two."
        case let .duplicateTensor(file, tensor):
            return "\(file): tensor '\(tensor)' is described more than once."
        case let .invalidShape(file, tensor, reason):
            return "\(file): tensor '\(tensor)' has an invalid shape (\(reason))."
        case let .unknownTensorType(file, tensor, type):
            return "\(file): tensor '\(tensor)' has the GGML type \(type), which ReAdapt does not recognise."
        case let .unalignedOffset(file, tensor, offset, alignment):
            return "\(file): tensor '\(tensor)' starts at data offset \(offset), which is not a multiple of the alignment \(alignment)."
        case let .sizeOverflow(file, tensor):
            return "\(file): tensor '\(tensor)' has dimensions whose byte size overflows a 64-bit integer."
        case let .dataOutOfRange(file, tensor, end, dataSize):
            return "\(file): tensor '\(tensor)' ends at byte \(end) of the data section, which holds only \(dataSize) bytes (truncated or corrupt)."
        case let .overlappingTensors(file, first, second):
            return "\(file): the data of tensors '\(first)' and '\(second)' overlap."
        case let .tensorNotFound(file, tensor):
            return "\(file): has no tensor named '\(tensor)'."
        case let .unsupportedTensorType(file, tensor, type):
            return "\(file): tensor '\(tensor)' is stored as \(type), which ReAdapt cannot dequantize yet."
        case let .unsupportedArchitecture(file, architecture):
            return "\(file): holds a '\(architecture)' model, but only the 'llama' architecture can be read as a Hugging Face checkpoint."
        case let .unsupportedRopeFrequencies(file):
            return "\(file): carries llama.cpp's precomputed rope_freqs.weight (Llama 3.1-style RoPE scaling), which ReAdapt cannot yet turn into transformers' RoPE settings."
        case let .missingMetadata(file, key):
            return "\(file): lacks the metadata key '\(key)', which is needed to build the model config."
        case let .inconsistentTensor(file, tensor, reason):
            return "\(file): tensor '\(tensor)' \(reason)."
        }
    }
}
