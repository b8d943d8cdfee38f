/// Validation of a safetensors header: the rules the reference reader enforces, checked once
/// when a file is opened so later reads can trust every offset.
enum SafetensorsHeader {
    struct Parsed {
        var metadata: [String: String]
        var entries: [SafetensorsFile.Entry]
        var dataStart: Int
    }

    /// Validates the whole file prefix + header in `file` (the complete mapped file).
    static func parse(_ file: UnsafeRawBufferPointer, fileName name: String) throws -> Parsed {
        guard file.count >= 8 else { throw SafetensorsError.fileTooSmall(file: name, size: file.count) }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(file[i]) << (8 * UInt64(i)) }
        guard length <= UInt64(SafetensorsFile.maxHeaderLength) else {
            throw SafetensorsError.headerTooLarge(file: name, length: length, limit: SafetensorsFile.maxHeaderLength)
        }
        guard length <= UInt64(file.count - 8) else {
            throw SafetensorsError.headerBeyondFile(file: name, length: length, fileSize: file.count)
        }
        let headerLength = Int(length)
        let headerBytes = UnsafeRawBufferPointer(rebasing: file[8..<(8 + headerLength)])
        guard String(validating: headerBytes, as: UTF8.self) != nil else {
            throw SafetensorsError.headerNotUTF8(file: name)
        }
        let json: SafetensorsJSON.Value
        do {
            json = try SafetensorsJSON.parse(headerBytes)
        } catch let error as SafetensorsJSON.ParseError {
            throw SafetensorsError.invalidJSON(file: name, reason: error.message)
        }
        guard case .object(let members) = json else { throw SafetensorsError.headerNotObject(file: name) }

        let dataStart = 8 + headerLength
        let dataSize = file.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [SafetensorsFile.Entry] = []
        entries.reserveCapacity(members.count)
        for (key, value) in members {
            if key == "__metadata__" {
                metadata = try parseMetadata(value, fileName: name)
            } else {
                entries.append(try parseEntry(key, value, fileName: name))
            }
        }
        try checkCoverage(&entries, dataSize: dataSize, fileName: name)
        return Parsed(metadata: metadata, entries: entries, dataStart: dataStart)
    }

    private static func parseMetadata(_ value: SafetensorsJSON.Value, fileName name: String) throws -> [String: String] {
        if value == .null { return [:] }
        guard case .object(let pairs) = value else {
            throw SafetensorsError.invalidMetadata(file: name, reason: "it is \(value.kindDescription)")
        }
        var map: [String: String] = [:]
        for (key, item) in pairs {
            guard case .string(let text) = item else {
                throw SafetensorsError.invalidMetadata(file: name, reason: "key '\(key)' holds \(item.kindDescription)")
            }
            map[key] = text
        }
        return map
    }

    private static func parseEntry(_ tensor: String, _ value: SafetensorsJSON.Value,
                                   fileName name: String) throws -> SafetensorsFile.Entry {
        guard case .object(let fields) = value else {
            throw SafetensorsError.invalidEntry(file: name, tensor: tensor, reason: "is \(value.kindDescription), not an object")
        }
        func field(_ key: String) throws -> SafetensorsJSON.Value {
            guard let found = fields.first(where: { $0.key == key }) else {
                throw SafetensorsError.invalidEntry(file: name, tensor: tensor, reason: "has no \"\(key)\" field")
            }
            return found.value
        }
        guard case .string(let dtypeName) = try field("dtype") else {
            throw SafetensorsError.invalidEntry(file: name, tensor: tensor, reason: "has a dtype that is not a string")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw SafetensorsError.unknownDType(file: name, tensor: tensor, dtype: dtypeName)
        }
        guard case .array(let dims) = try field("shape") else {
            throw SafetensorsError.invalidShape(file: name, tensor: tensor, reason: "not an array")
        }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for dim in dims {
            guard let d = dim.nonNegativeInt else {
                throw SafetensorsError.invalidShape(file: name, tensor: tensor,
                                                    reason: "dimension \(dim.kindDescription) is not a non-negative integer")
            }
            shape.append(d)
        }
        guard case .array(let offsets) = try field("data_offsets"), offsets.count == 2 else {
            throw SafetensorsError.invalidOffsets(file: name, tensor: tensor, reason: "not an array of two integers")
        }
        guard let begin = offsets[0].nonNegativeInt, let end = offsets[1].nonNegativeInt else {
            throw SafetensorsError.invalidOffsets(file: name, tensor: tensor, reason: "the offsets must be non-negative integers")
        }
        guard begin <= end else {
            throw SafetensorsError.invalidOffsets(file: name, tensor: tensor, reason: "begin \(begin) is after end \(end)")
        }
        let info = TensorInfo(name: tensor, dtype: dtype, shape: shape)
        guard let needed = SafetensorsLayout.byteCount(info) else {
            throw SafetensorsError.sizeOverflow(file: name, tensor: tensor)
        }
        guard end - begin == needed else {
            throw SafetensorsError.byteLengthMismatch(file: name, tensor: tensor, bytes: end - begin,
                                                      shape: shape, dtype: dtype, needed: needed)
        }
        return SafetensorsFile.Entry(info: info, dataRange: begin..<end)
    }

    /// Sorts entries by offset and checks they tile the data region exactly: inside it,
    /// no overlaps, no gaps, nothing left over at the end.
    private static func checkCoverage(_ entries: inout [SafetensorsFile.Entry], dataSize: Int,
                                      fileName name: String) throws {
        entries.sort {
            ($0.dataRange.lowerBound, $0.dataRange.upperBound, $0.info.name)
                < ($1.dataRange.lowerBound, $1.dataRange.upperBound, $1.info.name)
        }
        var covered = 0
        var previous: String?
        for entry in entries {
            let range = entry.dataRange
            guard range.upperBound <= dataSize else {
                throw SafetensorsError.offsetsOutOfRange(file: name, tensor: entry.info.name,
                                                         end: range.upperBound, dataSize: dataSize)
            }
            if range.lowerBound < covered, let previous {
                throw SafetensorsError.overlappingTensors(file: name, first: previous, second: entry.info.name)
            }
            if range.lowerBound > covered {
                throw SafetensorsError.gapInData(file: name, from: covered, to: range.lowerBound)
            }
            if !range.isEmpty || previous == nil { previous = entry.info.name }
            covered = range.upperBound
        }
        if covered < dataSize {
            throw SafetensorsError.gapInData(file: name, from: covered, to: dataSize)
        }
    }
}
