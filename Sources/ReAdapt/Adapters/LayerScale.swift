import Foundation

/// A bad `--layer-scale` specification.
public struct LayerScaleError: Error, CustomStringConvertible, Equatable, Sendable {
    public let spec: String
    public let reason: String
    public var description: String { "--layer-scale \"\(spec)\" is invalid: \(reason)." }
}

/// Per-tensor multipliers applied on top of every adapter's scale (`--layer-scale`, repeatable;
/// all given rules multiply). Grammar, one rule per specification:
///
///     const:F            every tensor × F
///     ramp:A,B           a tensor of layer i (of L) × A + (B − A)·i/(L − 1): LiNeS-style, e.g.
///                        ramp:0.2,1.0 keeps shallow layers near the base. L = 1 gives A.
///     list:F0,F1,...     layer i × Fi; exactly L values
///     layers:I-J=F       layers I through J (inclusive; `layers:I=F` for one) × F
///     GROUP=F            tensors of GROUP × F, GROUP one of
///                        attention (…self_attn…), mlp (…mlp…), embeddings (embed_tokens),
///                        head (lm_head), norms (every …norm… weight), biases (every ….bias)
///
/// Non-layer tensors (embeddings, head, final norm) have no layer index: ramp, list and layers
/// leave them at 1; use embeddings=, head= or norms= for them. F may be any finite number.
public struct LayerScale: Sendable, Equatable {
    public enum Group: String, Sendable, CaseIterable {
        case attention, mlp, embeddings, head, norms, biases

        func contains(_ name: String) -> Bool {
            switch self {
            case .attention: return name.contains(".self_attn.")
            case .mlp: return name.contains(".mlp.")
            case .embeddings: return name.contains("embed_tokens")
            case .head: return name.hasPrefix("lm_head")
            case .norms: return name.contains("norm") && name.hasSuffix(".weight")
            case .biases: return name.hasSuffix(".bias")
            }
        }
    }

    public enum Rule: Sendable, Equatable {
        case constant(Double)
        case ramp(from: Double, to: Double)
        case list([Double])
        case layers(ClosedRange<Int>, Double)
        case group(Group, Double)
    }

    public var rules: [Rule]

    public static let identity = LayerScale(rules: [])

    public init(rules: [Rule]) { self.rules = rules }

    /// Parses every `--layer-scale` argument.
    public init(specs: [String]) throws { rules = try specs.map(Self.parse) }

    public var isIdentity: Bool { rules.isEmpty }

    static func parse(_ spec: String) throws -> Rule {
        func fail(_ reason: String) -> LayerScaleError { LayerScaleError(spec: spec, reason: reason) }
        func number(_ text: Substring) throws -> Double {
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            guard let value = Double(trimmed), value.isFinite, trimmed.range(of: "^[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?$", options: .regularExpression) != nil else {
                throw fail("'\(trimmed)' is not a finite number")
            }
            return value
        }
        func numbers(_ text: Substring) throws -> [Double] {
            try text.split(separator: ",", omittingEmptySubsequences: false).map(number)
        }
        if let colon = spec.firstIndex(of: ":"), !spec[..<colon].contains("=") {
            let kind = spec[..<colon], body = spec[spec.index(after: colon)...]
            switch kind {
            case "const":
                return .constant(try number(body))
            case "ramp":
                let values = try numbers(body)
                guard values.count == 2 else { throw fail("ramp takes two numbers, ramp:FIRST,LAST") }
                return .ramp(from: values[0], to: values[1])
            case "list":
                let values = try numbers(body)
                guard !values.isEmpty else { throw fail("list needs one number per layer") }
                return .list(values)
            case "layers":
                guard let equals = body.firstIndex(of: "=") else { throw fail("use layers:FIRST-LAST=FACTOR") }
                let range = body[..<equals].split(separator: "-", omittingEmptySubsequences: false)
                let bounds = range.map { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard (1...2).contains(bounds.count), let first = bounds.first!, let last = bounds.last!, first >= 0, first <= last else {
                    throw fail("'\(body[..<equals])' is not a layer range like 0-7 or 3")
                }
                return .layers(first...last, try number(body[body.index(after: equals)...]))
            default:
                throw fail("unknown kind '\(kind)' (use const:, ramp:, list:, layers: or GROUP=)")
            }
        }
        if let equals = spec.firstIndex(of: "=") {
            let name = spec[..<equals].trimmingCharacters(in: .whitespaces)
            guard let group = Group(rawValue: name) else {
                throw fail("unknown group '\(name)' (use \(Group.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return .group(group, try number(spec[spec.index(after: equals)...]))
        }
        throw fail("expected const:F, ramp:A,B, list:F0,F1,..., layers:I-J=F or GROUP=F")
    }

    /// Checks the rules against the model's depth (a list must have one value per layer).
    public func validate(layerCount: Int) throws {
        for rule in rules {
            if case .list(let values) = rule, values.count != layerCount {
                throw LayerScaleError(spec: "list:" + values.map { String($0) }.joined(separator: ","),
                                      reason: "it has \(values.count) values but the model has \(layerCount) layers")
            }
            if case .layers(let range, _) = rule, range.upperBound >= layerCount {
                throw LayerScaleError(spec: "layers:\(range.lowerBound)-\(range.upperBound)",
                                      reason: "the model has layers 0-\(layerCount - 1)")
            }
        }
    }

    /// The product of every rule's factor for tensor `name`.
    public func factor(for name: String, layerCount: Int) -> Double {
        let layer = Self.layerIndex(of: name)
        var product = 1.0
        for rule in rules {
            switch rule {
            case .constant(let f):
                product *= f
            case .ramp(let first, let last):
                guard let layer else { continue }
                let t = layerCount > 1 ? Double(layer) / Double(layerCount - 1) : 0
                product *= first + (last - first) * t
            case .list(let values):
                if let layer, layer < values.count { product *= values[layer] }
            case .layers(let range, let f):
                if let layer, range.contains(layer) { product *= f }
            case .group(let group, let f):
                if group.contains(name) { product *= f }
            }
        }
        return product
    }

    /// The decoder layer a tensor belongs to (`…layers.<i>.…`), or nil for embeddings, head and
    /// the final norm.
    public static func layerIndex(of name: String) -> Int? {
        let parts = name.split(separator: ".")
        for (i, part) in parts.enumerated() where part == "layers" && i + 1 < parts.count {
            if let index = Int(parts[i + 1]) { return index }
        }
        return nil
    }

    /// The number of decoder layers: one more than the largest layer index among `names`.
    public static func layerCount(of names: [String]) -> Int {
        (names.compactMap(layerIndex).max() ?? -1) + 1
    }
}
