import Foundation

/// Operators, subscripts, slices and the string/dict methods templates call, with Python's rules.
enum JinjaOperations {
    static func item(_ target: JinjaValue, _ key: JinjaValue) -> JinjaValue {
        switch (target, key) {
        case let (.list(l), .int(i)), let (.tuple(l), .int(i)):
            let index = i < 0 ? l.count + i : i
            return l.indices.contains(index) ? l[index] : .undefined
        case let (.string(s), .int(i)):
            let chars = Array(s)
            let index = i < 0 ? chars.count + i : i
            return chars.indices.contains(index) ? .string(String(chars[index])) : .undefined
        case let (_, .string(k)): return target.lookup(k) ?? .undefined
        default: return .undefined
        }
    }

    static func slice(_ target: JinjaValue, start: JinjaValue?, stop: JinjaValue?, step: JinjaValue?, line: Int) throws -> JinjaValue {
        func bound(_ v: JinjaValue?) throws -> Int? {
            guard let v, !(v.isUndefined) else { return nil }
            if case .none = v { return nil }
            guard case .int(let i) = v else { throw JinjaError.runtime("slice bounds must be integers, not \(v.typeName)", line: line) }
            return i
        }
        let stepValue = try bound(step) ?? 1
        guard stepValue != 0 else { throw JinjaError.runtime("slice step cannot be zero", line: line) }
        func indices(_ count: Int) throws -> [Int] {
            func clamp(_ i: Int, _ low: Int, _ high: Int) -> Int { min(max(i < 0 ? i + count : i, low), high) }
            var result: [Int] = []
            if stepValue > 0 {
                var i = try bound(start).map { clamp($0, 0, count) } ?? 0
                let end = try bound(stop).map { clamp($0, 0, count) } ?? count
                while i < end { result.append(i); i += stepValue }
            } else {
                var i = try bound(start).map { clamp($0, -1, count - 1) } ?? count - 1
                let end = try bound(stop).map { clamp($0, -1, count - 1) } ?? -1
                while i > end { result.append(i); i += stepValue }
            }
            return result
        }
        switch target {
        case .list(let l): return .list(try indices(l.count).map { l[$0] })
        case .tuple(let l): return .tuple(try indices(l.count).map { l[$0] })
        case .string(let s):
            let chars = Array(s)
            return .string(String(try indices(chars.count).map { chars[$0] }))
        default: throw JinjaError.runtime("cannot slice a \(target.typeName)", line: line)
        }
    }

    static func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue, line: Int) throws -> JinjaValue {
        func fail() -> JinjaError {
            JinjaError.runtime("unsupported operand types for \(op): \(a.typeName) and \(b.typeName)", line: line)
        }
        switch op {
        case "~": return .string(a.text + b.text)
        case "==": return .bool(JinjaValue.equal(a, b))
        case "!=": return .bool(!JinjaValue.equal(a, b))
        case "in":
            switch b {
            case .string(let s):
                guard case .string(let needle) = a else { throw fail() }
                return .bool(needle.isEmpty || s.contains(needle))
            case .list(let l), .tuple(let l): return .bool(l.contains { JinjaValue.equal($0, a) })
            case .dict(let d):
                guard case .string(let key) = a else { return .bool(false) }
                return .bool(d.contains { $0.key == key })
            case .undefined: return .bool(false)
            default: throw fail()
            }
        case "<", ">", "<=", ">=":
            let order: Int
            if case let (.string(x), .string(y)) = (a, b) {
                order = x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1 : (x == y ? 0 : 1)
            } else if let x = a.number, let y = b.number {
                order = x < y ? -1 : (x == y ? 0 : 1)
            } else { throw fail() }
            switch op {
            case "<": return .bool(order < 0)
            case ">": return .bool(order > 0)
            case "<=": return .bool(order <= 0)
            default: return .bool(order >= 0)
            }
        case "+":
            switch (a, b) {
            case let (.string(x), .string(y)): return .string(x + y)
            case let (.list(x), .list(y)): return .list(x + y)
            default: break
            }
        case "*":
            if case let (.string(s), .int(n)) = (a, b) { return .string(String(repeating: s, count: max(n, 0))) }
            if case let (.list(l), .int(n)) = (a, b) { return .list(Array(repeatElement(l, count: max(n, 0)).joined())) }
        default: break
        }
        // Numbers: ints stay ints except for true division, as in Python.
        guard let x = a.number, let y = b.number else { throw fail() }
        let bothInts = a.isIntegral && b.isIntegral
        switch op {
        case "+": return bothInts ? .int(a.intValue + b.intValue) : .double(x + y)
        case "-": return bothInts ? .int(a.intValue - b.intValue) : .double(x - y)
        case "*": return bothInts ? .int(a.intValue * b.intValue) : .double(x * y)
        case "/":
            guard y != 0 else { throw JinjaError.runtime("division by zero", line: line) }
            return .double(x / y)
        case "//", "%":
            guard y != 0 else { throw JinjaError.runtime("division by zero", line: line) }
            if bothInts {
                let (p, q) = (a.intValue, b.intValue)
                var quotient = p / q
                if (p % q != 0) && ((p < 0) != (q < 0)) { quotient -= 1 }
                return op == "//" ? .int(quotient) : .int(p - quotient * q)
            }
            let quotient = (x / y).rounded(.down)
            return op == "//" ? .double(quotient) : .double(x - quotient * y)
        case "**":
            if bothInts, b.intValue >= 0 {
                var result = 1
                for _ in 0..<b.intValue { result = result.multipliedReportingOverflow(by: a.intValue).partialValue }
                return .int(result)
            }
            return .double(pow(x, y))
        default: throw fail()
        }
    }
}

extension JinjaValue {
    var isIntegral: Bool {
        switch self { case .int, .bool: return true; default: return false }
    }
    var intValue: Int {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        case .double(let d): return Int(d)
        default: return 0
        }
    }
}
