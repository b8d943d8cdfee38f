/// Everything that can be wrong with a safetensors file, shard index or write request.
///
/// `file` is the file's name as the user would recognise it (the last path component); each
/// description is one sentence naming that file and the fault.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable, Sendable {
    // Opening and the fixed-size prefix.
    case cannotOpen(file: String, reason: String)
    case fileTooSmall(file: String, size: Int)
    case headerTooLarge(file: String, length: UInt64, limit: Int)
    case headerBeyondFile(file: String, length: UInt64, fileSize: Int)
    // The JSON header.
    case headerNotUTF8(file: String)
    case invalidJSON(file: String, reason: String)
    case headerNotObject(file: String)
    case invalidMetadata(file: String, reason: String)
    // Tensor entries.
    case invalidEntry(file: String, tensor: String, reason: String)
    case unknownDType(file: String, tensor: String, dtype: String)
    case invalidShape(file: String, tensor: String, reason: String)
    case invalidOffsets(file: String, tensor: String, reason: String)
    case sizeOverflow(file: String, tensor: String)
    case byteLengthMismatch(file: String, tensor: String, bytes: Int, shape: [Int], dtype: DType, needed: Int)
    case offsetsOutOfRange(file: String, tensor: String, end: Int, dataSize: Int)
    case overlappingTensors(file: String, first: String, second: String)
    case gapInData(file: String, from: Int, to: Int)
    // Using a valid file.
    case tensorNotFound(file: String, tensor: String)
    case unsupportedDType(file: String, tensor: String, dtype: DType)
    case destinationSizeMismatch(file: String, tensor: String, elements: Int, destination: Int)
    // Sharded checkpoints.
    case noCheckpoint(directory: String)
    case invalidIndex(file: String, reason: String)
    case shardMissing(index: String, shard: String)
    case shardLacksTensor(index: String, shard: String, tensor: String)
    case duplicateTensor(tensor: String, firstFile: String, secondFile: String)
    // Writing.
    case writeFailed(file: String, reason: String)
    case invalidWriteRequest(file: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(file, reason):
            return "\(file): cannot be opened (\(reason))."
        case let .fileTooSmall(file, size):
            return "\(file): is \(size) bytes long, too short to hold the 8-byte header length of a safetensors file."
        case let .headerTooLarge(file, length, limit):
            return "\(file): declares a \(length)-byte header, over the \(limit)-byte limit, so it is corrupt or not a safetensors file."
        case let .headerBeyondFile(file, length, fileSize):
            return "\(file): declares a \(length)-byte header but the file is only \(fileSize) bytes long (truncated or not a safetensors file)."
        case let .headerNotUTF8(file):
            return "\(file): the header is not valid UTF-8."
        case let .invalidJSON(file, reason):
            return "\(file): the header is not valid JSON (\(reason))."
        case let .headerNotObject(file):
            return "\(file): the header is not a JSON object."
        case let .invalidMetadata(file, reason):
            return "\(file): __metadata__ must map strings to strings, but \(reason)."
        case let .invalidEntry(file, tensor, reason):
            return "\(file): the header entry for tensor '\(tensor)' \(reason)."
        case let .unknownDType(file, tensor, dtype):
            return "\(file): tensor '\(tensor)' has the dtype '\(dtype)', which ReAdapt does not recognise."
        case let .invalidShape(file, tensor, reason):
            return "\(file): tensor '\(tensor)' has an invalid shape (\(reason))."
        case let .invalidOffsets(file, tensor, reason):
            return "\(file): tensor '\(tensor)' has invalid data_offsets (\(reason))."
        case let .sizeOverflow(file, tensor):
            return "\(file): tensor '\(tensor)' has a shape whose byte size overflows a 64-bit integer."
        case let .byteLengthMismatch(file, tensor, bytes, shape, dtype, needed):
            return "\(file): tensor '\(tensor)' has \(bytes) bytes but shape \(shape) of \(dtype.rawValue) needs \(needed)."
        case let .offsetsOutOfRange(file, tensor, end, dataSize):
            return "\(file): tensor '\(tensor)' ends at byte \(end) of the data but the data region holds only \(dataSize) bytes."
        case let .overlappingTensors(file, first, second):
            return "\(file): the data of tensors '\(first)' and '\(second)' overlap."
        case let .gapInData(file, from, to):
            return "\(file): data bytes \(from)..<\(to) belong to no tensor (the reference reader refuses such files)."
        case let .tensorNotFound(file, tensor):
            return "\(file): has no tensor named '\(tensor)'."
        case let .unsupportedDType(file, tensor, dtype):
            return "\(file): tensor '\(tensor)' is \(dtype.rawValue), which ReAdapt cannot load as a weight."
        case let .destinationSizeMismatch(file, tensor, elements, destination):
            return "\(file): tensor '\(tensor)' has \(elements) elements but the destination buffer holds \(destination)."
        case let .noCheckpoint(directory):
            return "\(directory): contains neither model.safetensors nor model.safetensors.index.json."
        case let .invalidIndex(file, reason):
            return "\(file): is not a valid shard index (\(reason))."
        case let .shardMissing(index, shard):
            return "\(index): lists shard '\(shard)', which does not exist."
        case let .shardLacksTensor(index, shard, tensor):
            return "\(index): says tensor '\(tensor)' is in '\(shard)', but that shard has no such tensor."
        case let .duplicateTensor(tensor, firstFile, secondFile):
            return "Tensor '\(tensor)' appears in both \(firstFile) and \(secondFile)."
        case let .writeFailed(file, reason):
            return "\(file): could not be written (\(reason))."
        case let .invalidWriteRequest(file, reason):
            return "\(file): \(reason)."
        }
    }
}
