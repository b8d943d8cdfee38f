/// Parses and validates the header of a GGUF v2/v3 file: magic, version, metadata and tensor
/// infos, then checks every tensor's byte range against the data section.
struct GGUFHeader {
    var version: UInt32
    var metadata: [String: GGUFValue]
    var metadataKeys: [String]
    var tensors: [GGUFTensorInfo]
    var alignment: Int
    var dataStart: Int

    static func parse(_ bytes: UnsafeRawBufferPointer, fileName: String) throws -> GGUFHeader {
        var reader = GGUFByteReader(bytes: bytes, fileName: fileName)
        let magic = try reader.read(UInt32.self, "the magic bytes")
        guard magic == 0x4655_4747 else { throw GGUFError.badMagic(file: fileName) }  // "GGUF" little-endian
        let version = try reader.read(UInt32.self, "the version")
        if version.byteSwapped == 2 || version.byteSwapped == 3 { throw GGUFError.bigEndian(file: fileName) }
        guard version == 2 || version == 3 else {
            throw GGUFError.unsupportedVersion(file: fileName, version: version)
        }
        let tensorCount = try reader.read(UInt64.self, "the tensor count")
        let keyCount = try reader.read(UInt64.self, "the metadata count")
        // Smallest possible sizes: a tensor info is 8 (name length) + 4 + 4 + 8; a KV pair 8 + 4 + 1.
        try reader.requireRoom(for: tensorCount, minimumSize: 24, what: "tensors")
        try reader.requireRoom(for: keyCount, minimumSize: 13, what: "metadata entries")

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for _ in 0..<Int(keyCount) {
            let key = try reader.readString("a metadata key")
            let type = try reader.read(UInt32.self, "the type of metadata key '\(key)'")
            let value = try reader.readValue(type: type, key: key, depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw GGUFError.duplicateKey(file: fileName, key: key)
            }
            keys.append(key)
        }

        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard let a = value.intValue, a > 0, a & (a - 1) == 0 else {
                throw GGUFError.invalidAlignment(file: fileName, value: "\(value)")
            }
            alignment = a
        }

        var tensors: [GGUFTensorInfo] = []
        var seen = Set<String>()
        for _ in 0..<Int(tensorCount) {
            let name = try reader.readString("a tensor name")
            let what = "the description of tensor '\(name)'"
            let dimCount = try reader.read(UInt32.self, what)
            guard dimCount >= 1, dimCount <= 4 else {
                throw GGUFError.invalidShape(file: fileName, tensor: name, reason: "\(dimCount) dimensions; GGML allows 1 to 4")
            }
            var dims: [UInt64] = []
            for _ in 0..<dimCount { dims.append(try reader.read(UInt64.self, what)) }
            let rawType = try reader.read(UInt32.self, what)
            let offset = try reader.read(UInt64.self, what)
            guard seen.insert(name).inserted else { throw GGUFError.duplicateTensor(file: fileName, tensor: name) }
            guard let type = GGMLType(rawValue: rawType) else {
                throw GGUFError.unknownTensorType(file: fileName, tensor: name, type: rawType)
            }
            tensors.append(try GGUFTensorInfo(name: name, ggmlDims: dims, type: type, offset: offset, fileName: fileName))
        }

        let headerEnd = reader.offset
        let (dataStart, overflow) = headerEnd.addingReportingOverflow(alignment - 1)
        guard !overflow else { throw GGUFError.truncated(file: fileName, what: "the data section", offset: bytes.count) }
        let alignedStart = dataStart & ~(alignment - 1)
        let dataSize = max(0, bytes.count - alignedStart)
        try validateRanges(tensors, alignment: alignment, dataSize: dataSize, fileName: fileName)
        return GGUFHeader(version: version, metadata: metadata, metadataKeys: keys, tensors: tensors,
                          alignment: alignment, dataStart: alignedStart)
    }

    /// Offsets aligned, every range inside the data section, no two ranges overlapping.
    private static func validateRanges(_ tensors: [GGUFTensorInfo], alignment: Int, dataSize: Int,
                                       fileName: String) throws {
        for tensor in tensors {
            guard tensor.offset % UInt64(alignment) == 0 else {
                throw GGUFError.unalignedOffset(file: fileName, tensor: tensor.name, offset: tensor.offset,
                                                alignment: alignment)
            }
            let (end, overflow) = tensor.offset.addingReportingOverflow(UInt64(tensor.byteCount))
            guard !overflow, end <= UInt64(dataSize) else {
                throw GGUFError.dataOutOfRange(file: fileName, tensor: tensor.name,
                                               end: overflow ? UInt64.max : end, dataSize: dataSize)
            }
        }
        let ordered = tensors.filter { $0.byteCount > 0 }.sorted { $0.offset < $1.offset }
        for (a, b) in zip(ordered, ordered.dropFirst()) where a.offset + UInt64(a.byteCount) > b.offset {
            throw GGUFError.overlappingTensors(file: fileName, first: a.name, second: b.name)
        }
    }
}

/// A bounds-checked little-endian cursor over the mapped file.
struct GGUFByteReader {
    let bytes: UnsafeRawBufferPointer
    let fileName: String
    var offset = 0

    init(bytes: UnsafeRawBufferPointer, fileName: String) {
        self.bytes = bytes
        self.fileName = fileName
    }

    var remaining: Int { bytes.count - offset }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw GGUFError.truncated(file: fileName, what: what(), offset: bytes.count) }
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += size
        return T(littleEndian: value)
    }

    /// Refuses counts whose smallest possible encoding is longer than the rest of the file, before
    /// any loop or allocation trusts them.
    func requireRoom(for count: UInt64, minimumSize: Int, what: String) throws {
        let (needed, overflow) = count.multipliedReportingOverflow(by: UInt64(minimumSize))
        guard !overflow, needed <= UInt64(remaining) else {
            throw GGUFError.countTooLarge(file: fileName, what: what, count: count)
        }
    }

    mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let length = try read(UInt64.self, what())
        guard length <= UInt64(remaining) else {
            throw GGUFError.truncated(file: fileName, what: what(), offset: bytes.count)
        }
        let count = Int(length)
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count]), as: UTF8.self)
        offset += count
        return text
    }

    mutating func readValue(type: UInt32, key: String, depth: Int) throws -> GGUFValue {
        let what = "the value of metadata key '\(key)'"
        switch type {
        case 0: return .uint8(try read(UInt8.self, what))
        case 1: return .int8(try read(Int8.self, what))
        case 2: return .uint16(try read(UInt16.self, what))
        case 3: return .int16(try read(Int16.self, what))
        case 4: return .uint32(try read(UInt32.self, what))
        case 5: return .int32(try read(Int32.self, what))
        case 6: return .float32(Float(bitPattern: try read(UInt32.self, what)))
        case 7:
            let byte = try read(UInt8.self, what)
            guard byte <= 1 else {
                throw GGUFError.invalidMetadata(file: fileName, key: key, reason: "holds the boolean byte \(byte), not 0 or 1")
            }
            return .bool(byte == 1)
        case 8: return .string(try readString(what))
        case 9:
            guard depth == 0 else {
                throw GGUFError.invalidMetadata(file: fileName, key: key, reason: "nests arrays, which GGUF does not allow")
            }
            let elementType = try read(UInt32.self, what)
            let count = try read(UInt64.self, what)
            let minimumSize: Int
            switch elementType {
            case 0, 1, 7: minimumSize = 1
            case 2, 3: minimumSize = 2
            case 4, 5, 6: minimumSize = 4
            case 8, 10, 11, 12: minimumSize = 8
            default:
                throw GGUFError.invalidMetadata(file: fileName, key: key,
                                                reason: "is an array of the unknown value type \(elementType)")
            }
            try requireRoom(for: count, minimumSize: minimumSize, what: "elements in the array '\(key)'")
            var values: [GGUFValue] = []
            values.reserveCapacity(Int(count))
            for _ in 0..<Int(count) { values.append(try readValue(type: elementType, key: key, depth: depth + 1)) }
            return .array(values)
        case 10: return .uint64(try read(UInt64.self, what))
        case 11: return .int64(try read(Int64.self, what))
        case 12: return .float64(Double(bitPattern: try read(UInt64.self, what)))
        default:
            throw GGUFError.invalidMetadata(file: fileName, key: key, reason: "has the unknown value type \(type)")
        }
    }
}
