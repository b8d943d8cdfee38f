import Foundation

/// Runs a parsed template. Scopes follow Jinja: a `for` body and a macro get their own scope
/// (a `set` inside does not leak out, which is why templates use `namespace`); `if` does not.
final class JinjaInterpreter {
    private var scopes: [[String: JinjaValue]]
    /// Bounds macro recursion, which would otherwise exhaust the stack.
    private var macroDepth = 0
    private enum Flow { case normal, breakLoop, continueLoop }

    init(globals: [String: JinjaValue]) { scopes = [globals] }

    func render(_ nodes: [Node]) throws -> String {
        var out = ""
        _ = try run(nodes, into: &out)
        return out
    }

    func lookup(_ name: String) -> JinjaValue {
        for scope in scopes.reversed() { if let v = scope[name] { return v } }
        return .undefined
    }

    private func run(_ nodes: [Node], into out: inout String) throws -> Flow {
        for node in nodes {
            switch node {
            case .text(let s): out += s
            case let .output(e, line): out += try eval(e, line: line).text
            case let .ifChain(branches, otherwise, line):
                var taken = false
                for (condition, body) in branches where try eval(condition, line: line).truthy {
                    taken = true
                    let flow = try run(body, into: &out)
                    if flow != .normal { return flow }
                    break
                }
                if !taken {
                    let flow = try run(otherwise, into: &out)
                    if flow != .normal { return flow }
                }
            case let .forLoop(targets, iterable, filter, body, otherwise, line):
                try runFor(targets: targets, iterable: iterable, filter: filter, body: body,
                           otherwise: otherwise, line: line, into: &out)
            case let .set(target, attribute, value, line):
                let v = try eval(value, line: line)
                if let attribute {
                    guard case .namespace(let ns) = lookup(target) else {
                        throw JinjaError.runtime("cannot assign attribute '\(attribute)' on '\(target)', which is not a namespace", line: line)
                    }
                    ns.set(attribute, v)
                } else {
                    scopes[scopes.count - 1][target] = v
                }
            case let .setBlock(target, body, _):
                var captured = ""
                _ = try run(body, into: &captured)
                scopes[scopes.count - 1][target] = .string(captured)
            case let .macro(name, parameters, body):
                scopes[scopes.count - 1][name] = .function(makeMacro(parameters: parameters, body: body))
            case .loopBreak: return .breakLoop
            case .loopContinue: return .continueLoop
            }
        }
        return .normal
    }

    private func runFor(targets: [String], iterable: Expr, filter: Expr?, body: [Node], otherwise: [Node],
                        line: Int, into out: inout String) throws {
        let source = try eval(iterable, line: line)
        var items: [JinjaValue]
        switch source {
        case .list(let l), .tuple(let l): items = l
        case .dict(let d): items = d.map { .string($0.key) }
        case .string(let s): items = s.map { .string(String($0)) }
        case .undefined: items = []
        default: throw JinjaError.runtime("cannot loop over a \(source.typeName)", line: line)
        }
        scopes.append([:])
        defer { scopes.removeLast() }
        if let filter {
            items = try items.filter { item in
                try bind(targets, item, line: line)
                return try eval(filter, line: line).truthy
            }
        }
        if items.isEmpty { _ = try run(otherwise, into: &out); return }
        for (i, item) in items.enumerated() {
            scopes[scopes.count - 1] = [:]
            try bind(targets, item, line: line)
            scopes[scopes.count - 1]["loop"] = .dict([
                ("index", .int(i + 1)), ("index0", .int(i)),
                ("revindex", .int(items.count - i)), ("revindex0", .int(items.count - i - 1)),
                ("first", .bool(i == 0)), ("last", .bool(i == items.count - 1)),
                ("length", .int(items.count)),
                ("previtem", i > 0 ? items[i - 1] : .undefined),
                ("nextitem", i + 1 < items.count ? items[i + 1] : .undefined),
                ("cycle", .function(JinjaFunction { args, _ in args.isEmpty ? .undefined : args[i % args.count] })),
            ])
            if try run(body, into: &out) == .breakLoop { break }
        }
    }

    private func bind(_ targets: [String], _ item: JinjaValue, line: Int) throws {
        if targets.count == 1 { scopes[scopes.count - 1][targets[0]] = item; return }
        guard let parts = item.elements, parts.count == targets.count else {
            throw JinjaError.runtime("cannot unpack a \(item.typeName) into \(targets.count) loop variables", line: line)
        }
        for (name, value) in zip(targets, parts) { scopes[scopes.count - 1][name] = value }
    }

    private func makeMacro(parameters: [(String, Expr?)], body: [Node]) -> JinjaFunction {
        JinjaFunction { [unowned self] args, kwargs in
            var frame: [String: JinjaValue] = [:]
            for (i, (name, defaultValue)) in parameters.enumerated() {
                if i < args.count { frame[name] = args[i] }
                else if let kw = kwargs.first(where: { $0.0 == name }) { frame[name] = kw.1 }
                else if let defaultValue { frame[name] = try self.eval(defaultValue, line: 0) }
                else { frame[name] = .undefined }
            }
            guard self.macroDepth < 100 else { throw JinjaError.runtime("macros call each other more than 100 deep", line: 0) }
            self.macroDepth += 1
            self.scopes.append(frame)
            defer { self.scopes.removeLast(); self.macroDepth -= 1 }
            var out = ""
            _ = try self.run(body, into: &out)
            return .string(out)
        }
    }

    // MARK: expressions

    func eval(_ expr: Expr, line: Int) throws -> JinjaValue {
        switch expr {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return .list(try items.map { try eval($0, line: line) })
        case .tuple(let items): return .tuple(try items.map { try eval($0, line: line) })
        case .dict(let pairs):
            var result: [(key: String, value: JinjaValue)] = []
            for (k, v) in pairs {
                let key = try eval(k, line: line)
                guard case .string(let ks) = key else { throw JinjaError.unsupported("a dict key that is a \(key.typeName)", line: line) }
                let value = try eval(v, line: line)
                if let i = result.firstIndex(where: { $0.key == ks }) { result[i].value = value } else { result.append((ks, value)) }
            }
            return .dict(result)
        case let .attribute(target, name):
            let t = try eval(target, line: line)
            try requireDefined(t, target, line: line)
            return t.lookup(name) ?? .undefined
        case let .item(target, key):
            let t = try eval(target, line: line)
            try requireDefined(t, target, line: line)
            return JinjaOperations.item(t, try eval(key, line: line))
        case let .slice(target, start, stop, step):
            return try JinjaOperations.slice(try eval(target, line: line), start: try start.map { try eval($0, line: line) },
                                             stop: try stop.map { try eval($0, line: line) },
                                             step: try step.map { try eval($0, line: line) }, line: line)
        case let .call(callee, argExprs, kwargExprs):
            let args = try argExprs.map { try eval($0, line: line) }
            let kwargs = try kwargExprs.map { ($0.0, try eval($0.1, line: line)) }
            if case let .attribute(targetExpr, method) = callee {
                let target = try eval(targetExpr, line: line)
                if case .function(let f) = target.lookup(method) ?? .undefined { return try f.call(args, kwargs) }
                return try JinjaMethods.call(method, on: target, args: args, line: line)
            }
            let f = try eval(callee, line: line)
            guard case .function(let function) = f else {
                throw JinjaError.runtime("\(describe(callee)) is \(f.isUndefined ? "undefined" : "a \(f.typeName)") and cannot be called", line: line)
            }
            return try function.call(args, kwargs)
        case let .filter(target, name, argExprs, kwargExprs):
            let value = try eval(target, line: line)
            let args = try argExprs.map { try eval($0, line: line) }
            let kwargs = try kwargExprs.map { ($0.0, try eval($0.1, line: line)) }
            return try JinjaFilters.apply(name, to: value, args: args, kwargs: kwargs, line: line)
        case let .test(target, name, argExprs, negated):
            let value = try eval(target, line: line)
            let args = try argExprs.map { try eval($0, line: line) }
            return .bool(try JinjaFilters.test(name, value, args: args, line: line) != negated)
        case let .unary(op, operand):
            let v = try eval(operand, line: line)
            switch op {
            case "not": return .bool(!v.truthy)
            case "-":
                if case .int(let i) = v { return .int(-i) }
                if let d = v.number { return .double(-d) }
                throw JinjaError.runtime("cannot negate a \(v.typeName)", line: line)
            default: return v
            }
        case let .binary(op, l, r):
            return try JinjaOperations.binary(op, try eval(l, line: line), try eval(r, line: line), line: line)
        case let .and(l, r):
            let left = try eval(l, line: line)
            return left.truthy ? try eval(r, line: line) : left
        case let .or(l, r):
            let left = try eval(l, line: line)
            return left.truthy ? left : try eval(r, line: line)
        case let .conditional(value, test, otherwise):
            if try eval(test, line: line).truthy { return try eval(value, line: line) }
            return try otherwise.map { try eval($0, line: line) } ?? .undefined
        }
    }

    /// Jinja's default Undefined prints as "" but raises when something is looked up in it.
    private func requireDefined(_ value: JinjaValue, _ expr: Expr, line: Int) throws {
        guard value.isUndefined else { return }
        switch expr {
        case .name(let n): throw JinjaError.runtime("'\(n)' is undefined", line: line)
        case let .attribute(_, n): throw JinjaError.runtime("the attribute '\(n)' is undefined", line: line)
        default: throw JinjaError.runtime("a value is undefined", line: line)
        }
    }

    private func describe(_ e: Expr) -> String {
        switch e {
        case .name(let n): return "'\(n)'"
        case let .attribute(_, n): return "'\(n)'"
        default: return "the expression"
        }
    }
}
