import Foundation

/// Parses one tag's tokens into an expression, with Jinja's operator precedence (lowest first):
/// `x if c else y`, `or`, `and`, `not`, comparisons and `in`, `+ -`, `~`, `* / // %`, `**`,
/// unary minus, then postfix access, filters (`|f`) and tests (`is t`).
struct ExprParser {
    private let tokens: [Token]
    private var index = 0
    /// How deeply expressions are nested now; bounded so a hostile template cannot exhaust the stack.
    private var depth = 0
    static let maxDepth = 200
    let line: Int

    init(tokens: [Token], line: Int) { self.tokens = tokens; self.line = line }

    var atEnd: Bool { index >= tokens.count }

    private var current: Token? { index < tokens.count ? tokens[index] : nil }

    func peek(_ op: String) -> Bool { current.map { $0.kind == .op && $0.text == op } ?? false }
    private func peekName(_ name: String) -> Bool { current.map { $0.kind == .name && $0.text == name } ?? false }

    mutating func accept(_ op: String) -> Bool {
        if peek(op) { index += 1; return true }
        return false
    }

    mutating func acceptName(_ name: String) -> Bool {
        if peekName(name) { index += 1; return true }
        return false
    }

    mutating func nextName() -> String? {
        guard let t = current, t.kind == .name else { return nil }
        index += 1
        return t.text
    }

    mutating func expect(_ op: String) throws {
        guard accept(op) else { throw error("expected '\(op)'") }
    }

    func expectEnd() throws {
        if let t = current { throw JinjaError.syntax("unexpected '\(t.text)'", line: line) }
    }

    private func error(_ message: String) -> JinjaError {
        JinjaError.syntax(message + (current.map { " but found '\($0.text)'" } ?? " but the tag ended"), line: line)
    }

    mutating func parseExpression(allowConditional: Bool = true) throws -> Expr {
        try enter()
        defer { depth -= 1 }
        let value = try parseOr()
        guard allowConditional, acceptName("if") else { return value }
        let test = try parseOr()
        let otherwise = acceptName("else") ? try parseExpression() : nil
        return .conditional(value, test: test, otherwise: otherwise)
    }

    private mutating func parseOr() throws -> Expr {
        var left = try parseAnd()
        while acceptName("or") { left = .or(left, try parseAnd()) }
        return left
    }

    private mutating func parseAnd() throws -> Expr {
        var left = try parseNot()
        while acceptName("and") { left = .and(left, try parseNot()) }
        return left
    }

    private mutating func parseNot() throws -> Expr {
        try enter()
        defer { depth -= 1 }
        if acceptName("not") { return .unary("not", try parseNot()) }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> Expr {
        var left = try parseMath1()
        while true {
            if let t = current, t.kind == .op, ["==", "!=", "<", ">", "<=", ">="].contains(t.text) {
                index += 1
                left = .binary(t.text, left, try parseMath1())
            } else if acceptName("in") {
                left = .binary("in", left, try parseMath1())
            } else if peekName("not"), index + 1 < tokens.count, tokens[index + 1].kind == .name, tokens[index + 1].text == "in" {
                index += 2
                left = .unary("not", .binary("in", left, try parseMath1()))
            } else {
                return left
            }
        }
    }

    private mutating func parseMath1() throws -> Expr {
        var left = try parseConcat()
        while let t = current, t.kind == .op, t.text == "+" || t.text == "-" {
            index += 1
            left = .binary(t.text, left, try parseConcat())
        }
        return left
    }

    private mutating func parseConcat() throws -> Expr {
        var left = try parseMath2()
        while accept("~") { left = .binary("~", left, try parseMath2()) }
        return left
    }

    private mutating func parseMath2() throws -> Expr {
        var left = try parsePow()
        while let t = current, t.kind == .op, ["*", "/", "//", "%"].contains(t.text) {
            index += 1
            left = .binary(t.text, left, try parsePow())
        }
        return left
    }

    private mutating func parsePow() throws -> Expr {
        var left = try parseUnary(withFilter: true)
        while accept("**") { left = .binary("**", left, try parseUnary(withFilter: true)) }
        return left
    }

    private mutating func enter() throws {
        depth += 1
        if depth > Self.maxDepth { throw JinjaError.syntax("expressions are nested more than \(Self.maxDepth) deep", line: line) }
    }

    private mutating func parseUnary(withFilter: Bool) throws -> Expr {
        try enter()
        defer { depth -= 1 }
        var node: Expr
        if accept("-") { node = .unary("-", try parseUnary(withFilter: false)) }
        else if accept("+") { node = .unary("+", try parseUnary(withFilter: false)) }
        else { node = try parsePrimary() }
        node = try parsePostfix(node)
        return withFilter ? try parseFiltersAndTests(node) : node
    }

    private mutating func parsePrimary() throws -> Expr {
        guard let t = current else { throw error("expected an expression") }
        index += 1
        switch t.kind {
        case .string:
            var s = t.text
            while let next = current, next.kind == .string { s += next.text; index += 1 }
            return .literal(.string(s))
        case .int:
            guard let v = Int(t.text) else { throw JinjaError.syntax("integer \(t.text) is too large", line: line) }
            return .literal(.int(v))
        case .float: return .literal(.double(Double(t.text) ?? .nan))
        case .name:
            switch t.text {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(t.text)
            }
        case .op:
            switch t.text {
            case "(":
                if accept(")") { return .tuple([]) }
                let first = try parseExpression()
                if accept(")") { return first }
                var items = [first]
                while accept(",") { if peek(")") { break }; items.append(try parseExpression()) }
                try expect(")")
                return .tuple(items)
            case "[":
                var items: [Expr] = []
                while !accept("]") {
                    items.append(try parseExpression())
                    if !accept(",") { try expect("]"); break }
                }
                return .list(items)
            case "{":
                var pairs: [(Expr, Expr)] = []
                while !accept("}") {
                    let key = try parseExpression()
                    try expect(":")
                    pairs.append((key, try parseExpression()))
                    if !accept(",") { try expect("}"); break }
                }
                return .dict(pairs)
            default:
                index -= 1
                throw error("expected an expression")
            }
        }
    }

    private mutating func parsePostfix(_ start: Expr) throws -> Expr {
        var node = start
        while true {
            if accept(".") {
                guard let t = current, t.kind == .name || t.kind == .int else { throw error("expected an attribute name after '.'") }
                index += 1
                node = t.kind == .int ? .item(node, .literal(.int(Int(t.text) ?? 0))) : .attribute(node, t.text)
            } else if accept("[") {
                node = try parseSubscript(node)
            } else if peek("(") {
                let (args, kwargs) = try parseCallArguments()
                node = .call(node, args, kwargs)
            } else {
                return node
            }
        }
    }

    private mutating func parseSubscript(_ target: Expr) throws -> Expr {
        var parts: [Expr?] = [nil]
        var sawColon = false
        while !accept("]") {
            if accept(":") { sawColon = true; parts.append(nil); continue }
            guard parts[parts.count - 1] == nil else { throw error("expected ']'") }
            parts[parts.count - 1] = try parseExpression()
        }
        if !sawColon {
            guard let key = parts[0] else { throw error("expected a subscript") }
            return .item(target, key)
        }
        guard parts.count <= 3 else { throw JinjaError.syntax("a slice has too many ':'", line: line) }
        while parts.count < 3 { parts.append(nil) }
        return .slice(target, parts[0], parts[1], parts[2])
    }

    private mutating func parseCallArguments() throws -> ([Expr], [(String, Expr)]) {
        try expect("(")
        var args: [Expr] = []
        var kwargs: [(String, Expr)] = []
        while !accept(")") {
            if let t = current, t.kind == .name, index + 1 < tokens.count, tokens[index + 1].kind == .op, tokens[index + 1].text == "=" {
                index += 2
                kwargs.append((t.text, try parseExpression()))
            } else {
                args.append(try parseExpression())
            }
            if !accept(",") { try expect(")"); break }
        }
        return (args, kwargs)
    }

    private mutating func parseFiltersAndTests(_ start: Expr) throws -> Expr {
        var node = start
        while true {
            if accept("|") {
                guard var name = nextName() else { throw error("expected a filter name after '|'") }
                while accept(".") { name += "." + (nextName() ?? "") }
                var args: [Expr] = [], kwargs: [(String, Expr)] = []
                if peek("(") { (args, kwargs) = try parseCallArguments() }
                node = .filter(node, name, args, kwargs)
            } else if acceptName("is") {
                let negated = acceptName("not")
                guard let name = nextName() else { throw error("expected a test name after 'is'") }
                var args: [Expr] = []
                if peek("(") {
                    args = try parseCallArguments().0
                } else if let t = current, t.kind != .op || ["[", "{"].contains(t.text),
                          !(t.kind == .name && ["else", "or", "and", "if", "in", "is", "not"].contains(t.text)) {
                    args = [try parsePostfix(try parsePrimary())]
                }
                node = .test(node, name, args, negated: negated)
            } else {
                return node
            }
        }
    }
}
