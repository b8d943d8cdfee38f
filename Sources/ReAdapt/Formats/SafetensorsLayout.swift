/// Where each tensor goes in a safetensors file, and the header bytes that describe it,
/// laid out exactly as the reference `safetensors` library (Rust core, used by Python) does:
/// tensors sorted by dtype (the Rust enum's order, descending — so wider types first) then by
/// name bytewise; `__metadata__` first; compact JSON; header padded with spaces to a multiple of 8.
struct SafetensorsLayout {
    /// The 8-byte length prefix followed by the padded JSON.
    var header: [UInt8]
    /// Entries in file order; `dataRange` is relative to the data region.
    var entries: [SafetensorsFile.Entry]
    var dataSize: Int

    var dataStart: Int { header.count }
    var fileSize: Int { header.count + dataSize }

    /// Position of each dtype in the reference's `Dtype` enum, whose derived ordering the writer
    /// sorts by (descending). Dtypes ReAdapt does not know (F4, F6_*, F8_E8M0, C64) fit between.
    static func referenceRank(_ dtype: DType) -> Int {
        switch dtype {
        case .bool: return 0
        case .u8: return 4
        case .i8: return 5
        case .f8e5m2: return 6
        case .f8e4m3: return 7
        case .i16: return 9
        case .u16: return 10
        case .f16: return 11
        case .bf16: return 12
        case .i32: return 13
        case .u32: return 14
        case .f32: return 15
        case .f64: return 17
        case .i64: return 18
        case .u64: return 19
        }
    }

    /// The tensor's size in bytes, or nil if a dimension is negative or the size overflows
    /// (computed like the reference: element count with checked products, times the dtype size).
    static func byteCount(_ t: TensorInfo) -> Int? {
        var elements = 1
        for d in t.shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow else { return nil }
            elements = p
        }
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: t.dtype.size)
        return overflow ? nil : bytes
    }

    /// `fileName` is only for error messages. `metadata` nil writes no `__metadata__` key; an
    /// empty map writes `{}` as the reference does. Metadata keys are written sorted (the reference
    /// writes them in hash order, so with more than one key its bytes vary from run to run).
    init(tensors: [TensorInfo], metadata: [String: String]?, fileName: String) throws {
        var seen = Set<String>()
        for t in tensors {
            guard seen.insert(t.name).inserted else {
                throw SafetensorsError.invalidWriteRequest(file: fileName, reason: "tensor '\(t.name)' is listed twice")
            }
            guard t.name != "__metadata__" else {
                throw SafetensorsError.invalidWriteRequest(file: fileName, reason: "'__metadata__' cannot be a tensor name")
            }
            guard t.shape.allSatisfy({ $0 >= 0 }) else {
                throw SafetensorsError.invalidWriteRequest(file: fileName, reason: "tensor '\(t.name)' has a negative dimension in \(t.shape)")
            }
            guard Self.byteCount(t) != nil else {
                throw SafetensorsError.invalidWriteRequest(file: fileName, reason: "tensor '\(t.name)' is too large")
            }
        }
        let sorted = tensors.sorted { a, b in
            let ra = Self.referenceRank(a.dtype), rb = Self.referenceRank(b.dtype)
            if ra != rb { return ra > rb }
            return a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
        }
        var json: [UInt8] = [UInt8(ascii: "{")]
        var first = true
        func separator() { if !first { json.append(UInt8(ascii: ",")) }; first = false }
        if let metadata {
            separator()
            json += Array(#""__metadata__":{"#.utf8)
            for (i, key) in metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if i > 0 { json.append(UInt8(ascii: ",")) }
                SafetensorsJSON.appendQuoted(key, to: &json)
                json.append(UInt8(ascii: ":"))
                SafetensorsJSON.appendQuoted(metadata[key] ?? "", to: &json)
            }
            json.append(UInt8(ascii: "}"))
        }
        var offset = 0
        var entries: [SafetensorsFile.Entry] = []
        entries.reserveCapacity(sorted.count)
        for t in sorted {
            let bytes = Self.byteCount(t) ?? 0
            separator()
            SafetensorsJSON.appendQuoted(t.name, to: &json)
            json += Array(#":{"dtype":"\#(t.dtype.rawValue)","shape":["#.utf8)
            json += Array(t.shape.map(String.init).joined(separator: ",").utf8)
            json += Array(#"],"data_offsets":[\#(offset),\#(offset + bytes)]}"#.utf8)
            entries.append(SafetensorsFile.Entry(info: t, dataRange: offset..<(offset + bytes)))
            offset += bytes
        }
        json.append(UInt8(ascii: "}"))
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var prefix: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { prefix += $0 }
        self.header = prefix + json
        self.entries = entries
        self.dataSize = offset
    }
}
