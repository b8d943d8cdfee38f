import Foundation

/// transformers' `tojson`: Python's `json.dumps(x, ensure_ascii=False, indent=indent)`, so
/// separators are ", " and ": " without indent, "," and ": " with it, and non-ASCII stays as is.
enum JinjaJSON {
    static func dumps(_ value: JinjaValue, indent: Int?, sortKeys: Bool = false, line: Int) throws -> String {
        var out = ""
        try write(value, indent: indent, level: 0, sortKeys: sortKeys, into: &out, line: line)
        return out
    }

    private static func write(_ value: JinjaValue, indent: Int?, level: Int, sortKeys: Bool, into out: inout String, line: Int) throws {
        let itemSeparator = indent == nil ? ", " : ","
        func newline(_ depth: Int) { if let indent { out += "\n" + String(repeating: " ", count: indent * depth) } }
        switch value {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isNaN { out += "NaN" } else if d.isInfinite { out += d > 0 ? "Infinity" : "-Infinity" }
            else { out += JinjaValue.pythonFloat(d) }
        case .string(let s): out += quoted(s)
        case .list(let l), .tuple(let l):
            if l.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in l.enumerated() {
                if i > 0 { out += itemSeparator }
                newline(level + 1)
                try write(item, indent: indent, level: level + 1, sortKeys: sortKeys, into: &out, line: line)
            }
            newline(level)
            out += "]"
        case .dict(let members):
            if members.isEmpty { out += "{}"; return }
            let ordered = sortKeys ? members.sorted { $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) } : members
            out += "{"
            for (i, member) in ordered.enumerated() {
                if i > 0 { out += itemSeparator }
                newline(level + 1)
                out += quoted(member.key) + ": "
                try write(member.value, indent: indent, level: level + 1, sortKeys: sortKeys, into: &out, line: line)
            }
            newline(level)
            out += "}"
        case .undefined, .namespace, .function:
            throw JinjaError.runtime("tojson cannot serialize a value of type \(value.typeName)", line: line)
        }
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if c.value < 0x20 { out += String(format: "\\u%04x", c.value) } else { out.unicodeScalars.append(c) }
            }
        }
        return out + "\""
    }
}
