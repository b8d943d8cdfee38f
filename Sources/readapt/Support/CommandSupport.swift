import ArgumentParser
import Foundation
import ReAdapt

/// A one-sentence command-line error. ArgumentParser prints its description after "Error: " on
/// stderr and exits with a non-zero status.
struct CommandLineError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Human-facing progress and timings go to stderr so stdout stays machine-readable.
func printToStandardError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// The whole of a UTF-8 text file, or a clear error naming it.
func readTextFile(_ path: String) throws -> String {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw CommandLineError("\(path) does not exist.")
    }
    guard !isDirectory.boolValue, let data = FileManager.default.contents(atPath: path) else {
        throw CommandLineError("\(path) is not a readable file.")
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw CommandLineError("\(path) is not valid UTF-8 text.")
    }
    return text
}

/// Prints an Encodable value as one line of JSON on stdout (keys sorted, so output is stable).
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Seconds since `start` on a monotonic clock.
func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    (ContinuousClock.now - start).seconds
}

extension WeightStorage: ExpressibleByArgument {}

/// Options shared by every command that runs a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Hugging Face model directory (config.json, *.safetensors, tokenizer.json) or a llama .gguf file.")
    var model: String

    @Option(name: .long, help: "In-memory weight precision: bf16 (default, fastest), f16 or f32 (PyTorch-exact).")
    var precision: WeightStorage = .bf16

    /// The model, its tokenizer and its end-of-sequence ids, with load time reported on stderr.
    func load() throws -> (model: LanguageModel, tokenizer: Tokenizer, eosTokenIDs: [Int]) {
        let start = ContinuousClock.now
        let bundle = try ModelBundle(url: URL(fileURLWithPath: model))
        let languageModel = try bundle.loadModel(storage: precision)
        printToStandardError(String(format: "Loaded %@ (%@ weights) in %.2f s.", model,
                                    precision.rawValue, secondsSince(start)))
        return (languageModel, bundle.tokenizer, bundle.eosTokenIDs)
    }
}

/// The chat template of a model (directory or .gguf), or one sentence naming it when it has none.
func loadChatTemplate(modelDirectory: String) throws -> ChatTemplate {
    let bundle = try ModelBundle(url: URL(fileURLWithPath: modelDirectory))
    do {
        return try bundle.chatTemplate()
    } catch ChatTemplateError.noTemplate {
        if bundle.kind == .gguf {
            throw CommandLineError("\(modelDirectory) has no chat template (no 'tokenizer.chat_template' in its metadata).")
        }
        throw CommandLineError("\(modelDirectory) has no chat template (no chat_template.jinja and no 'chat_template' in tokenizer_config.json).")
    }
}

/// The sampling flags shared by `generate` and `chat`.
struct SamplingArguments: ParsableArguments {
    @Option(name: .long, help: "Sampling temperature; 0 chooses the most likely token (greedy).")
    var temperature: Float = 0

    @Option(name: .long, help: "Nucleus sampling: keep the most likely tokens whose probability reaches P (1 = off).")
    var topP: Float = 1

    @Option(name: .long, help: "Keep only the K most likely tokens (0 = off).")
    var topK = 0

    @Option(name: .long, help: "Random seed for sampling.")
    var seed: UInt64 = 0

    func validate() throws {
        guard temperature >= 0, temperature.isFinite else {
            throw ValidationError("--temperature must be a finite number >= 0, not \(temperature).")
        }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1], not \(topP).") }
        guard topK >= 0 else { throw ValidationError("--top-k must be 0 or more, not \(topK).") }
    }

    var options: SamplingOptions { SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: seed) }
}

/// The `--layer-scale` grammar, shown in --help of merge and of every model-running command.
let layerScaleHelp = ArgumentHelp(
    "Per-tensor multiplier on top of every adapter's scale; repeat to multiply rules: const:F | ramp:A,B (layer i of L × A+(B−A)·i/(L−1)) | list:F0,F1,... (one per layer) | layers:I-J=F | GROUP=F with GROUP attention, mlp, embeddings, head, norms or biases. ramp/list/layers leave non-layer tensors (embeddings, head, final norm) at 1.",
    valueName: "spec")

/// `--adapter PATH[:SCALE]` and `--layer-scale SPEC` for commands that run a model: the adapters
/// are merged in memory as the weights load (the same `AdapterStack` as `readapt merge`).
struct AdapterOptions: ParsableArguments {
    @Option(name: .customLong("adapter"), help: ArgumentHelp(
        "An adapter merged in memory: a PEFT LoRA/DoRA directory, or a delta/LoRE directory from `readapt extract`, optionally with :SCALE (default 1; the last ':' followed by a number). Repeatable.",
        valueName: "path[:scale]"))
    var adapters: [String] = []

    @Option(name: .long, help: layerScaleHelp)
    var layerScale: [String] = []

    func validate() throws {
        if !layerScale.isEmpty, adapters.isEmpty { throw ValidationError("--layer-scale needs at least one --adapter.") }
    }

    /// The adapter stack, or nil when no --adapter was given.
    func stack() throws -> AdapterStack? {
        guard !adapters.isEmpty else { return nil }
        return try AdapterStack(specs: adapters.map(AdapterSpec.init(parsing:)), layerScale: LayerScale(specs: layerScale))
    }
}

extension ModelOptions {
    /// `load()` with the adapters of `adapterOptions` merged in memory.
    func load(adapters adapterOptions: AdapterOptions) throws -> (model: LanguageModel, tokenizer: Tokenizer, eosTokenIDs: [Int]) {
        guard let stack = try adapterOptions.stack() else { return try load() }
        let start = ContinuousClock.now
        let bundle = try ModelBundle(url: URL(fileURLWithPath: model))
        let languageModel = try bundle.loadModel(storage: precision, adapters: stack)
        printToStandardError(String(format: "Loaded %@ with %d adapter(s) merged in memory (%@ weights) in %.2f s.", model,
                                    stack.entries.count, precision.rawValue, secondsSince(start)))
        return (languageModel, bundle.tokenizer, bundle.eosTokenIDs)
    }
}
