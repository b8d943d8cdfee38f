import Foundation

/// Jinja's filters (`x | name(args)`) and tests (`x is name`), as configured by transformers.
enum JinjaFilters {
    static func apply(_ name: String, to value: JinjaValue, args: [JinjaValue], kwargs: [(String, JinjaValue)],
                      line: Int) throws -> JinjaValue {
        func arg(_ i: Int, _ key: String) -> JinjaValue? {
            if i < args.count { return args[i] }
            return kwargs.first(where: { $0.0 == key })?.1
        }
        func sequence() throws -> [JinjaValue] {
            switch value {
            case .list(let l), .tuple(let l): return l
            case .string(let s): return s.map { .string(String($0)) }
            case .dict(let d): return d.map { .string($0.key) }
            case .undefined: return []
            default: throw JinjaError.runtime("filter '\(name)' needs a sequence, not a \(value.typeName)", line: line)
            }
        }
        switch name {
        case "trim":
            return .string(JinjaMethods.strip(value.text, chars: arg(0, "chars").flatMap { $0.truthy ? $0.text : nil },
                                              leading: true, trailing: true))
        case "upper": return .string(value.text.uppercased())
        case "lower": return .string(value.text.lowercased())
        case "capitalize": return .string(JinjaMethods.capitalize(value.text))
        case "title":
            var out = "", atWordStart = true
            for c in value.text {
                out += atWordStart ? c.uppercased() : c.lowercased()
                atWordStart = c.isWhitespace || "-({[<".contains(c)
            }
            return .string(out)
        case "string": return .string(value.text)
        case "safe": return value
        case "length", "count":
            switch value {
            case .string(let s): return .int(s.count)
            case .list(let l), .tuple(let l): return .int(l.count)
            case .dict(let d): return .int(d.count)
            case .undefined: return .int(0)
            default: throw JinjaError.runtime("a \(value.typeName) has no length", line: line)
            }
        case "default", "d":
            let useIfFalsy = arg(1, "boolean")?.truthy ?? false
            let fallback = arg(0, "default_value") ?? .string("")
            return value.isUndefined || (useIfFalsy && !value.truthy) ? fallback : value
        case "first": return try sequence().first ?? .undefined
        case "last": return try sequence().last ?? .undefined
        case "list": return .list(try sequence())
        case "reverse":
            if case .string(let s) = value { return .string(String(s.reversed())) }
            return .list(try sequence().reversed())
        case "join":
            let separator = arg(0, "d")?.text ?? ""
            let attribute = kwargs.first(where: { $0.0 == "attribute" })?.1.text
            let parts = try sequence().map { item in attribute.map { (item.lookup($0) ?? .undefined).text } ?? item.text }
            return .string(parts.joined(separator: separator))
        case "items":
            guard case .dict(let d) = value else {
                if value.isUndefined { return .list([]) }
                throw JinjaError.runtime("filter 'items' needs a dict, not a \(value.typeName)", line: line)
            }
            return .list(d.map { .tuple([.string($0.key), $0.value]) })
        case "int":
            switch value {
            case .int, .bool: return .int(value.intValue)
            case .double(let d): return .int(Int(d))
            case .string(let s): return .int(Int(s.trimmingCharacters(in: .whitespaces)) ?? Double(s).map { Int($0) } ?? (arg(0, "default")?.intValue ?? 0))
            default: return arg(0, "default") ?? .int(0)
            }
        case "float":
            if let n = value.number { return .double(n) }
            return .double(Double(value.text) ?? 0)
        case "abs":
            if case .int(let i) = value { return .int(abs(i)) }
            return .double(abs(value.number ?? 0))
        case "replace":
            guard let old = arg(0, "old"), let new = arg(1, "new") else {
                throw JinjaError.runtime("filter 'replace' needs two arguments", line: line)
            }
            return .string(JinjaMethods.replace(value.text, old.text, new.text, count: arg(2, "count")?.intValue ?? -1))
        case "tojson":
            let indent = arg(0, "indent").flatMap { $0.truthy || $0.isIntegral ? $0.intValue : nil }
            return .string(try JinjaJSON.dumps(value, indent: indent, sortKeys: kwargs.first(where: { $0.0 == "sort_keys" })?.1.truthy ?? false, line: line))
        case "map":
            if let attribute = kwargs.first(where: { $0.0 == "attribute" })?.1.text {
                return .list(try sequence().map { $0.lookup(attribute) ?? kwargs.first(where: { $0.0 == "default" })?.1 ?? .undefined })
            }
            guard let filterName = args.first?.text else { throw JinjaError.runtime("filter 'map' needs a filter name or attribute=", line: line) }
            return .list(try sequence().map { try apply(filterName, to: $0, args: Array(args.dropFirst()), kwargs: [], line: line) })
        case "selectattr", "rejectattr", "select", "reject":
            let byAttribute = name.hasSuffix("attr")
            let keep = name.hasPrefix("select")
            let attribute = byAttribute ? args.first?.text ?? "" : ""
            let testArgs = Array(args.dropFirst(byAttribute ? 1 : 0))
            return .list(try sequence().filter { item in
                let subject = byAttribute ? (item.lookup(attribute) ?? .undefined) : item
                let passed = try testArgs.first.map { try test($0.text, subject, args: Array(testArgs.dropFirst()), line: line) } ?? subject.truthy
                return passed == keep
            })
        case "unique":
            var seen: [JinjaValue] = []
            for v in try sequence() where !seen.contains(where: { JinjaValue.equal($0, v) }) { seen.append(v) }
            return .list(seen)
        default:
            throw JinjaError.unsupported("the filter '\(name)'", line: line)
        }
    }

    static func test(_ name: String, _ value: JinjaValue, args: [JinjaValue], line: Int) throws -> Bool {
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": if case .none = value { return true }; return false
        case "true": if case .bool(true) = value { return true }; return false
        case "false": if case .bool(false) = value { return true }; return false
        case "boolean": if case .bool = value { return true }; return false
        case "string": if case .string = value { return true }; return false
        case "integer": if case .int = value { return true }; return false
        case "float": if case .double = value { return true }; return false
        case "number": if case .bool = value { return false }; return value.number != nil
        case "mapping": if case .dict = value { return true }; return false
        case "sequence", "iterable":
            switch value { case .list, .tuple, .string, .dict: return true; default: return false }
        case "callable": if case .function = value { return true }; return false
        case "odd": return value.intValue % 2 != 0
        case "even": return value.intValue % 2 == 0
        case "divisibleby": return args.first.map { $0.intValue != 0 && value.intValue % $0.intValue == 0 } ?? false
        case "eq", "equalto", "==": return args.first.map { JinjaValue.equal(value, $0) } ?? false
        case "ne", "!=": return !(args.first.map { JinjaValue.equal(value, $0) } ?? false)
        case "in": return try args.first.map { try JinjaOperations.binary("in", value, $0, line: line).truthy } ?? false
        case "lower": return value.text == value.text.lowercased()
        case "upper": return value.text == value.text.uppercased()
        case "sameas":
            guard let other = args.first else { return false }
            switch (value, other) {
            case (.none, .none), (.undefined, .undefined): return true
            case let (.bool(a), .bool(b)): return a == b
            default: return false
            }
        default: throw JinjaError.unsupported("the test '\(name)'", line: line)
        }
    }
}
