import Foundation

/// Python methods templates call on strings and dicts (`.strip()`, `.split()`, `.items()`, ...).
enum JinjaMethods {
    static func call(_ name: String, on target: JinjaValue, args: [JinjaValue], line: Int) throws -> JinjaValue {
        func stringArg(_ i: Int) throws -> String? {
            guard i < args.count else { return nil }
            if case .none = args[i] { return nil }
            guard case .string(let s) = args[i] else { throw JinjaError.runtime("\(name)() expects a string argument", line: line) }
            return s
        }
        switch target {
        case .string(let s):
            switch name {
            case "strip": return .string(strip(s, chars: try stringArg(0), leading: true, trailing: true))
            case "lstrip": return .string(strip(s, chars: try stringArg(0), leading: true, trailing: false))
            case "rstrip": return .string(strip(s, chars: try stringArg(0), leading: false, trailing: true))
            case "upper": return .string(s.uppercased())
            case "lower": return .string(s.lowercased())
            case "title": return .string(title(s))
            case "capitalize": return .string(capitalize(s))
            case "startswith", "endswith":
                let candidates: [String]
                if let l = args.first?.elements { candidates = l.map(\.text) } else { candidates = [try stringArg(0) ?? ""] }
                return .bool(candidates.contains { name == "startswith" ? s.hasPrefix($0) || $0.isEmpty : s.hasSuffix($0) || $0.isEmpty })
            case "split":
                let maxSplit = args.count > 1 ? args[1].intValue : -1
                return .list(split(s, separator: try stringArg(0), maxSplit: maxSplit).map { .string($0) })
            case "replace":
                guard let old = try stringArg(0), let new = try stringArg(1) else {
                    throw JinjaError.runtime("replace() needs two string arguments", line: line)
                }
                return .string(replace(s, old, new, count: args.count > 2 ? args[2].intValue : -1))
            default: break
            }
        case .dict(let d):
            switch name {
            case "items": return .list(d.map { .tuple([.string($0.key), $0.value]) })
            case "keys": return .list(d.map { .string($0.key) })
            case "values": return .list(d.map { $0.value })
            case "get":
                guard case .string(let key)? = args.first else { return args.count > 1 ? args[1] : .none }
                return d.first(where: { $0.key == key })?.value ?? (args.count > 1 ? args[1] : .none)
            default: break
            }
        default: break
        }
        throw JinjaError.unsupported("the method '\(name)' on a \(target.typeName)", line: line)
    }

    static func strip(_ s: String, chars: String?, leading: Bool, trailing: Bool) -> String {
        let scalars = Array(s.unicodeScalars)
        let set = chars.map { Set($0.unicodeScalars) }
        func strippable(_ c: Unicode.Scalar) -> Bool { set?.contains(c) ?? c.properties.isWhitespace }
        var lo = 0, hi = scalars.count
        if leading { while lo < hi, strippable(scalars[lo]) { lo += 1 } }
        if trailing { while hi > lo, strippable(scalars[hi - 1]) { hi -= 1 } }
        return String(String.UnicodeScalarView(scalars[lo..<hi]))
    }

    /// Python's str.split: with no separator, splits on runs of whitespace and drops empty ends.
    static func split(_ s: String, separator: String?, maxSplit: Int) -> [String] {
        guard let separator, !separator.isEmpty else {
            var parts: [String] = []
            var rest = Substring(s)
            while true {
                rest = rest.drop(while: { $0.isWhitespace })
                if rest.isEmpty { return parts }
                if maxSplit >= 0, parts.count == maxSplit { parts.append(String(rest)); return parts }
                let word = rest.prefix(while: { !$0.isWhitespace })
                parts.append(String(word))
                rest = rest.dropFirst(word.count)
            }
        }
        var parts: [String] = []
        var rest = s[...]
        while maxSplit < 0 || parts.count < maxSplit, let r = rest.range(of: separator) {
            parts.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }

    static func replace(_ s: String, _ old: String, _ new: String, count: Int) -> String {
        if count < 0 { return old.isEmpty ? s : s.replacingOccurrences(of: old, with: new) }
        var out = "", rest = s[...], done = 0
        while done < count, !old.isEmpty, let r = rest.range(of: old) {
            out += rest[..<r.lowerBound] + new
            rest = rest[r.upperBound...]
            done += 1
        }
        return out + rest
    }

    /// Python's str.title: a letter after a non-letter is uppercased, others lowercased.
    static func title(_ s: String) -> String {
        var out = "", previousIsLetter = false
        for c in s {
            out += previousIsLetter ? c.lowercased() : c.uppercased()
            previousIsLetter = c.isLetter
        }
        return out
    }

    static func capitalize(_ s: String) -> String {
        guard let first = s.first else { return s }
        return first.uppercased() + s.dropFirst().lowercased()
    }
}
