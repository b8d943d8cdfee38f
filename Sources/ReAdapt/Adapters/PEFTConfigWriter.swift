import Foundation

/// The `adapter_config.json` of a LoRA/DoRA adapter that readapt writes (LoRE extraction and
/// training): the fields a writer chooses, every other field at the value PEFT's `save_pretrained`
/// writes for a default `LoraConfig` (after `save_pretrained`, so `inference_mode` is true).
///
/// Two key sets:
/// - `portableObject`: the keys every PEFT since 0.7 understands (older PEFTs refuse unknown keys),
///   plus `exclude_modules` only when it is needed — what LoRE adapters use, also for llama.cpp;
/// - `peft021Object`: exactly the keys PEFT 0.21.2 writes (pinned by
///   Tests/ReAdaptTests/Fixtures/train_outputs/peft_adapter_config.json from
///   scripts/fixtures/make_train_output_fixtures.py) — what training writes, so that a trained
///   adapter's config is indistinguishable from one PEFT saved.
struct PEFTLoRAConfigFields {
    var r: Int
    var loraAlpha: Double
    var loraDropout: Double = 0
    /// Module name suffixes, e.g. `q_proj`; written sorted.
    var targetModules: [String]
    /// Full module names → rank, for modules whose rank differs from `r`.
    var rankPattern: [String: Int] = [:]
    /// Full module names PEFT must not wrap although their suffix is targeted.
    var excludeModules: [String] = []
    var useRSLoRA = false
    var useDoRA = false
    var baseModelPath: String

    /// The PEFT version whose `save_pretrained` output `peft021Object` reproduces.
    static let peftVersion = "0.21.2"

    /// lora_alpha as Python would hold it: an int when integral (PEFT writes `128`, not `128.0`).
    private var alphaValue: Any {
        loraAlpha == loraAlpha.rounded() && abs(loraAlpha) < 1e15 ? Int(loraAlpha) as Any : loraAlpha as Any
    }

    func portableObject() -> [String: Any] {
        let null = NSNull()
        var object: [String: Any] = [
            "alpha_pattern": [String: Int](),
            "auto_mapping": null,
            "base_model_name_or_path": baseModelPath,
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "layer_replication": null,
            "layers_pattern": null,
            "layers_to_transform": null,
            "loftq_config": [String: Int](),
            "lora_alpha": alphaValue,
            "lora_bias": false,
            "lora_dropout": loraDropout,
            "megatron_config": null,
            "megatron_core": "megatron.core",
            "modules_to_save": null,
            "peft_type": "LORA",
            "r": r,
            "rank_pattern": rankPattern,
            "revision": null,
            "target_modules": targetModules.sorted(),
            "task_type": "CAUSAL_LM",
            "use_dora": useDoRA,
            "use_rslora": useRSLoRA,
        ]
        // `exclude_modules` exists since PEFT 0.14; written only when needed, for older readers.
        if !excludeModules.isEmpty { object["exclude_modules"] = excludeModules.sorted() }
        return object
    }

    /// Every key of PEFT 0.21.2's `LoraConfig.save_pretrained`, the newer ones at their defaults.
    func peft021Object() -> [String: Any] {
        let null = NSNull()
        var object = portableObject()
        for key in ["alora_invocation_tokens", "arrow_config", "corda_config", "eva_config", "kasa_config",
                    "lora_ga_config", "monteclora_config", "target_parameters", "trainable_token_indices",
                    "use_bdlora", "velora_config"] {
            object[key] = null
        }
        object["exclude_modules"] = excludeModules.isEmpty ? null : excludeModules.sorted()
        object["ensure_weight_tying"] = false
        object["peft_version"] = Self.peftVersion
        object["qalora_group_size"] = 16
        object["use_qalora"] = false
        return object
    }

    /// Pretty-printed with sorted keys, as PEFT writes it (`json.dumps(indent=2, sort_keys=True)`).
    static func encode(_ object: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }
}
