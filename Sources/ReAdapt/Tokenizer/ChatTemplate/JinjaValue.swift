import Foundation

/// A value inside a running template, modelled on the Python objects transformers passes to
/// Jinja: printing follows Python's `str` (`None`, `True`, `['a', 'b']`), truthiness Python's.
public indirect enum JinjaValue {
    /// A missing variable or attribute: prints as "", is falsy, like Jinja's default Undefined.
    case undefined
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([JinjaValue])
    /// A Python tuple (from `dict.items()`): behaves as a list but prints with parentheses.
    case tuple([JinjaValue])
    /// A dict with Python's insertion order.
    case dict([(key: String, value: JinjaValue)])
    case namespace(JinjaNamespace)
    case function(JinjaFunction)

    public init(_ json: JSONValue) {
        switch json {
        case .null: self = .none
        case .bool(let b): self = .bool(b)
        case .string(let s): self = .string(s)
        case .number(let n): self = Int(n).map { .int($0) } ?? .double(Double(n) ?? .nan)
        case .array(let a): self = .list(a.map(JinjaValue.init))
        case .object(let members):
            var pairs: [(key: String, value: JinjaValue)] = []
            for (k, v) in members {
                if let i = pairs.firstIndex(where: { $0.key == k }) { pairs[i].value = JinjaValue(v) }
                else { pairs.append((k, JinjaValue(v))) }
            }
            self = .dict(pairs)
        }
    }

    /// The elements of a list or tuple.
    var elements: [JinjaValue]? {
        switch self {
        case .list(let l), .tuple(let l): return l
        default: return nil
        }
    }

    var isUndefined: Bool { if case .undefined = self { return true }; return false }

    var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let l), .tuple(let l): return !l.isEmpty
        case .dict(let d): return !d.isEmpty
        case .namespace, .function: return true
        }
    }

    /// Python's `str(value)`.
    var text: String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return repr
        }
    }

    /// Python's `repr(value)`, which `str` of a list or dict uses for the elements.
    var repr: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return JinjaValue.pythonFloat(d)
        case .string(let s): return JinjaValue.pythonStringRepr(s)
        case .list(let l): return "[" + l.map(\.repr).joined(separator: ", ") + "]"
        case .tuple(let l): return "(" + l.map(\.repr).joined(separator: ", ") + (l.count == 1 ? ",)" : ")")
        case .dict(let d): return "{" + d.map { JinjaValue.pythonStringRepr($0.key) + ": " + $0.value.repr }.joined(separator: ", ") + "}"
        case .namespace: return "<Namespace>"
        case .function: return "<function>"
        }
    }

    static func pythonFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        if d == d.rounded(), abs(d) < 1e16 { return String(format: "%.1f", d) }
        return "\(d)"  // Swift and Python both print the shortest round-tripping digits
    }

    static func pythonStringRepr(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(c) == quote { out += "\\" + String(c) }
                else if c.value < 0x20 || c.value == 0x7F { out += String(format: "\\x%02x", c.value) }
                else { out.unicodeScalars.append(c) }
            }
        }
        return out + String(quote)
    }

    /// Python's `==` across these types (1 == 1.0 == True).
    static func equal(_ a: JinjaValue, _ b: JinjaValue) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case let (.string(x), .string(y)): return x == y
        case let (.list(x), .list(y)), let (.tuple(x), .tuple(y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case let (.dict(x), .dict(y)):
            return x.count == y.count && x.allSatisfy { pair in y.contains { $0.key == pair.key && equal($0.value, pair.value) } }
        case let (.namespace(x), .namespace(y)): return x === y
        default:
            if let x = a.number, let y = b.number { return x == y }
            return false
        }
    }

    /// The value as a number when it is a bool, int or float (Python treats bools as ints).
    var number: Double? {
        switch self {
        case .bool(let b): return b ? 1 : 0
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    var typeName: String {
        switch self {
        case .undefined: return "undefined"
        case .none: return "none"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double: return "float"
        case .string: return "string"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .namespace: return "namespace"
        case .function: return "function"
        }
    }

    func lookup(_ key: String) -> JinjaValue? {
        switch self {
        case .dict(let d): return d.first(where: { $0.key == key })?.value
        case .namespace(let n): return n.attributes.first(where: { $0.key == key })?.value
        default: return nil
        }
    }
}

/// `namespace(...)`: the one mutable object templates have, so a loop can carry state out.
public final class JinjaNamespace {
    var attributes: [(key: String, value: JinjaValue)]
    init(_ attributes: [(key: String, value: JinjaValue)]) { self.attributes = attributes }
    func set(_ key: String, _ value: JinjaValue) {
        if let i = attributes.firstIndex(where: { $0.key == key }) { attributes[i].value = value }
        else { attributes.append((key, value)) }
    }
}

/// A callable: a global such as `raise_exception`, or a template macro.
public struct JinjaFunction {
    let call: ([JinjaValue], [(String, JinjaValue)]) throws -> JinjaValue
}

extension JinjaValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
}
