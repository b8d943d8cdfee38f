import Foundation

/// Expressions of the Jinja subset chat templates use.
indirect enum Expr {
    case literal(JinjaValue)
    case name(String)
    case list([Expr])
    case tuple([Expr])
    case dict([(Expr, Expr)])
    case attribute(Expr, String)
    case item(Expr, Expr)
    case slice(Expr, Expr?, Expr?, Expr?)
    case call(Expr, [Expr], [(String, Expr)])
    case filter(Expr, String, [Expr], [(String, Expr)])
    case test(Expr, String, [Expr], negated: Bool)
    case unary(String, Expr)
    case binary(String, Expr, Expr)
    case and(Expr, Expr)
    case or(Expr, Expr)
    case conditional(Expr, test: Expr, otherwise: Expr?)
}

/// Statements, with the line each began on for error messages.
indirect enum Node {
    case text(String)
    case output(Expr, line: Int)
    case ifChain([(Expr, [Node])], otherwise: [Node], line: Int)
    case forLoop(targets: [String], iterable: Expr, filter: Expr?, body: [Node], otherwise: [Node], line: Int)
    case set(target: String, attribute: String?, value: Expr, line: Int)
    case setBlock(target: String, body: [Node], line: Int)
    case macro(name: String, parameters: [(String, Expr?)], body: [Node])
    case loopBreak(line: Int)
    case loopContinue(line: Int)
}

/// A recursive-descent parser over the lexer's segments. Block statements collect their bodies
/// until one of the expected closing keywords.
struct JinjaParser {
    private let segments: [TemplateSegment]
    private var position = 0
    /// How many blocks are open; bounded so a hostile template cannot exhaust the stack.
    private var depth = 0

    static func parse(_ source: String) throws -> [Node] {
        var parser = JinjaParser(segments: try JinjaLexer.segments(source))
        let (nodes, end) = try parser.parseBody(until: [])
        if let end { throw JinjaError.syntax("unexpected '\(end.keyword)'", line: end.line) }
        return nodes
    }

    private init(segments: [TemplateSegment]) { self.segments = segments }

    private struct EndTag { let keyword: String; let tokens: ExprParser; let line: Int }

    /// Parses nodes until a statement whose keyword is in `terminators` (returned) or the end.
    private mutating func parseBody(until terminators: Set<String>) throws -> ([Node], EndTag?) {
        depth += 1
        defer { depth -= 1 }
        if depth > ExprParser.maxDepth {
            throw JinjaError.syntax("blocks are nested more than \(ExprParser.maxDepth) deep", line: 0)
        }
        var nodes: [Node] = []
        while position < segments.count {
            let segment = segments[position]
            position += 1
            switch segment {
            case .text(let s): nodes.append(.text(s))
            case let .output(tokens, line):
                var p = ExprParser(tokens: tokens, line: line)
                let e = try p.parseExpression()
                try p.expectEnd()
                nodes.append(.output(e, line: line))
            case let .statement(tokens, line):
                var p = ExprParser(tokens: tokens, line: line)
                guard let keyword = p.nextName() else { throw JinjaError.syntax("a '{%' tag has no statement name", line: line) }
                if terminators.contains(keyword) { return (nodes, EndTag(keyword: keyword, tokens: p, line: line)) }
                if let node = try parseStatement(keyword, &p, line: line) { nodes.append(node) }
            }
        }
        if !terminators.isEmpty {
            throw JinjaError.syntax("the template ends before one of \(terminators.sorted().joined(separator: "/"))", line: 0)
        }
        return (nodes, nil)
    }

    private mutating func parseStatement(_ keyword: String, _ p: inout ExprParser, line: Int) throws -> Node? {
        switch keyword {
        case "if":
            var branches: [(Expr, [Node])] = []
            var condition = try p.parseExpression()
            try p.expectEnd()
            while true {
                let (body, end) = try parseBody(until: ["elif", "else", "endif"])
                branches.append((condition, body))
                guard var endTokens = end?.tokens else { break }
                switch end!.keyword {
                case "elif":
                    condition = try endTokens.parseExpression(); try endTokens.expectEnd()
                case "else":
                    try endTokens.expectEnd()
                    let (otherwise, _) = try parseBody(until: ["endif"])
                    return .ifChain(branches, otherwise: otherwise, line: line)
                default: return .ifChain(branches, otherwise: [], line: line)
                }
            }
            return .ifChain(branches, otherwise: [], line: line)
        case "for":
            var targets: [String] = []
            repeat {
                guard let name = p.nextName() else { throw JinjaError.syntax("'for' needs a loop variable name", line: line) }
                targets.append(name)
            } while p.accept(",")
            guard p.nextName() == "in" else { throw JinjaError.syntax("'for' needs 'in'", line: line) }
            let iterable = try p.parseExpression(allowConditional: false)
            var filter: Expr? = nil
            if p.acceptName("if") { filter = try p.parseExpression(allowConditional: false) }
            if p.acceptName("recursive") { throw JinjaError.unsupported("a recursive for loop", line: line) }
            try p.expectEnd()
            let (body, end) = try parseBody(until: ["else", "endfor"])
            var otherwise: [Node] = []
            if end?.keyword == "else" { otherwise = try parseBody(until: ["endfor"]).0 }
            return .forLoop(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise, line: line)
        case "set":
            guard let target = p.nextName() else { throw JinjaError.syntax("'set' needs a variable name", line: line) }
            var attribute: String? = nil
            if p.accept(".") {
                guard let a = p.nextName() else { throw JinjaError.syntax("'set' needs an attribute name after '.'", line: line) }
                attribute = a
            }
            if p.atEnd, attribute == nil {
                let (body, _) = try parseBody(until: ["endset"])
                return .setBlock(target: target, body: body, line: line)
            }
            if p.peek(",") { throw JinjaError.unsupported("'set' with several targets", line: line) }
            try p.expect("=")
            let value = try p.parseExpression()
            try p.expectEnd()
            return .set(target: target, attribute: attribute, value: value, line: line)
        case "macro":
            guard let name = p.nextName() else { throw JinjaError.syntax("'macro' needs a name", line: line) }
            try p.expect("(")
            var parameters: [(String, Expr?)] = []
            while !p.accept(")") {
                guard let param = p.nextName() else { throw JinjaError.syntax("bad macro parameter list", line: line) }
                parameters.append((param, p.accept("=") ? try p.parseExpression() : nil))
                if !p.accept(",") { try p.expect(")"); break }
            }
            try p.expectEnd()
            let (body, _) = try parseBody(until: ["endmacro"])
            return .macro(name: name, parameters: parameters, body: body)
        case "break": try p.expectEnd(); return .loopBreak(line: line)
        case "continue": try p.expectEnd(); return .loopContinue(line: line)
        case "generation", "endgeneration": return nil  // transformers' assistant-mask marker: renders its body
        case "elif", "else", "endif", "endfor", "endset", "endmacro":
            throw JinjaError.syntax("unexpected '\(keyword)'", line: line)
        default:
            throw JinjaError.unsupported("the '\(keyword)' statement", line: line)
        }
    }
}
