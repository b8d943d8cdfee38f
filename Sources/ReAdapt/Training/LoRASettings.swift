import Foundation

/// What a training run updates: every weight of the model, or a LoRA/DoRA adapter on a frozen base.
public enum TrainingMethod: Sendable, Equatable {
    case full
    case lora(LoRASettings)

    public var loraSettings: LoRASettings? {
        if case .lora(let settings) = self { return settings }
        return nil
    }

    /// "full", "lora" or "dora".
    public var name: String {
        switch self {
        case .full: return "full"
        case .lora(let s): return s.useDoRA ? "dora" : "lora"
        }
    }
}

/// The linear layers of a Llama-family decoder layer that can carry an adapter, by their Hugging Face
/// module names. PEFT's `all-linear` on a causal LM means all seven (it excludes the output head).
public enum LoRATargetModule: String, CaseIterable, Sendable, Codable, Comparable {
    case q = "q_proj", k = "k_proj", v = "v_proj", o = "o_proj"
    case gate = "gate_proj", up = "up_proj", down = "down_proj"

    /// The module's path inside a decoder layer, e.g. `self_attn.q_proj`.
    public var path: String {
        switch self {
        case .q, .k, .v, .o: return "self_attn." + rawValue
        case .gate, .up, .down: return "mlp." + rawValue
        }
    }

    public static func < (a: Self, b: Self) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Parses `all-linear` or a comma-separated list such as `q_proj,v_proj` (order and duplicates
    /// do not matter); nil names the first unknown module.
    public static func parseList(_ text: String) -> Result<[LoRATargetModule], LoRASettingsError> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "all-linear" { return .success(allCases) }
        var found = Set<LoRATargetModule>()
        for part in trimmed.split(separator: ",") {
            let name = part.trimmingCharacters(in: .whitespaces)
            guard let module = LoRATargetModule(rawValue: name) else {
                return .failure(.unknownTarget(name))
            }
            found.insert(module)
        }
        guard !found.isEmpty else { return .failure(.noTargets) }
        return .success(found.sorted())
    }
}

/// Problems with LoRA hyperparameters a user can cause.
public enum LoRASettingsError: Error, CustomStringConvertible, Equatable {
    case unknownTarget(String)
    case noTargets
    case invalidRank(Int)
    case invalidAlpha(Double)
    case invalidDropout(Double)

    public var description: String {
        switch self {
        case .unknownTarget(let name):
            return "The LoRA target '\(name)' is not one of all-linear, "
                + LoRATargetModule.allCases.map(\.rawValue).joined(separator: ", ") + "."
        case .noTargets: return "The LoRA target list is empty; name modules such as q_proj,v_proj or use all-linear."
        case .invalidRank(let r): return "The LoRA rank must be a positive integer, not \(r)."
        case .invalidAlpha(let a): return "The LoRA alpha must be a positive number, not \(a)."
        case .invalidDropout(let p): return "The LoRA dropout must be in [0, 1), not \(p)."
        }
    }
}

/// A LoRA or DoRA adapter's hyperparameters, with the meaning PEFT's `LoraConfig` gives them:
/// the update of a target weight W [out, in] is scale·B·A with A [rank, in], B [out, rank],
/// scale = alpha/rank (or alpha/√rank with rsLoRA); dropout applies to the adapter's input only;
/// DoRA rescales each output row by magnitude / ‖W + scale·B·A‖ (the norm detached from the graph).
public struct LoRASettings: Sendable, Equatable, Codable {
    public var rank: Int
    public var alpha: Double
    public var useRSLoRA: Bool
    public var dropout: Double
    public var useDoRA: Bool
    public var targets: [LoRATargetModule]

    public init(rank: Int = 64, alpha: Double = 128, useRSLoRA: Bool = false, dropout: Double = 0.05,
                useDoRA: Bool = false, targets: [LoRATargetModule] = LoRATargetModule.allCases) {
        self.rank = rank
        self.alpha = alpha
        self.useRSLoRA = useRSLoRA
        self.dropout = dropout
        self.useDoRA = useDoRA
        self.targets = targets.sorted()
    }

    /// PEFT's `scaling`: alpha / r, or alpha / √r with rsLoRA (computed in Double as Python does).
    public var scale: Float {
        Float(useRSLoRA ? alpha / Double(rank).squareRoot() : alpha / Double(rank))
    }

    public func validate() throws {
        guard rank > 0 else { throw LoRASettingsError.invalidRank(rank) }
        guard alpha > 0, alpha.isFinite else { throw LoRASettingsError.invalidAlpha(alpha) }
        guard dropout >= 0, dropout < 1 else { throw LoRASettingsError.invalidDropout(dropout) }
        guard !targets.isEmpty else { throw LoRASettingsError.noTargets }
    }
}
