import ArgumentParser
import Foundation
import ReAdapt

/// `readapt merge`: base + Σ scale·adapter written as a Hugging Face checkpoint.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Write base + the sum of scaled adapters as a Hugging Face model directory.",
        discussion: """
        Each --adapter is a delta checkpoint or LoRE adapter from `readapt extract`, or a PEFT \
        LoRA/DoRA adapter directory, with an optional :SCALE (default 1). Every delta is computed \
        against the original base: merged = base + Σ scale · layer-scale · delta. All adapters are \
        checked against the base before anything is written; tensors then stream one at a time \
        (memory stays at a few tensors) into a hidden sibling directory renamed to --output at the \
        end. config.json comes from the base (vocab_size and dtype updated); tokenizer files, chat \
        template and generation_config.json from --tokenizer-from (default: the instruct model a \
        delta records, if that directory exists, else the base). See docs/merge.md.
        """
    )

    @Option(name: .long, help: "The base model directory (config.json + safetensors) the adapters were made for.")
    var base: String

    @Option(name: .customLong("adapter"), help: ArgumentHelp(
        "An adapter directory with an optional :SCALE (the last ':' followed by a number). Repeatable.",
        valueName: "path[:scale]"))
    var adapters: [String] = []

    @Option(name: .long, help: "The model directory to write (must not exist or be empty, unless --force).")
    var output: String

    @Option(name: .long, help: layerScaleHelp)
    var layerScale: [String] = []

    @Option(name: .long, help: "Stored dtype of floating-point tensors: f32, f16 or bf16 (default: each base tensor's own).")
    var dtype: String?

    @Option(name: .long, help: "Directory to copy tokenizer files, chat template and generation_config.json from.")
    var tokenizerFrom: String?

    @Option(name: .long, help: "Largest shard, e.g. 5GB (10^9 bytes), 500MB, 2GiB (2^30) or a byte count; the default is transformers' own.")
    var maxShardSize = defaultMaxShardSize

    @Flag(name: .long, help: "Replace an existing --output.")
    var force = false

    @Flag(name: .long, help: "Print a JSON summary on stdout.")
    var json = false

    func validate() throws {
        guard !adapters.isEmpty else { throw ValidationError("Give at least one --adapter PATH[:SCALE].") }
    }

    func run() throws {
        let dtypes: [String: DType] = ["f32": .f32, "f16": .f16, "bf16": .bf16]
        var outputDType: DType?
        if let dtype {
            guard let chosen = dtypes[dtype.lowercased()] else {
                throw CommandLineError("--dtype must be f32, f16 or bf16, not \(dtype).")
            }
            outputDType = chosen
        }
        guard let shardSize = parseByteSize(maxShardSize) else {
            throw CommandLineError("--max-shard-size \(maxShardSize) is not a size like 5GB, 500MB, 2GiB or a byte count.")
        }
        if let tokenizerFrom {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: tokenizerFrom, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CommandLineError("--tokenizer-from \(tokenizerFrom) is not a directory.")
            }
        }
        let specs = try adapters.map(AdapterSpec.init(parsing:))
        let stack = try AdapterStack(specs: specs, layerScale: LayerScale(specs: layerScale))
        let options = MergeOptions(outputDType: outputDType, maxShardSize: shardSize, replace: force,
                                   tokenizerFrom: tokenizerFrom.map { URL(fileURLWithPath: $0) })
        let summary = try ModelMerger.merge(base: URL(fileURLWithPath: base), stack: stack,
                                            output: URL(fileURLWithPath: output), options: options,
                                            progress: printToStandardError)
        printToStandardError(String(format: "Wrote %@ (%d tensors, %d changed, %.1f MB) in %.2f s (%.0f MB/s).",
                                    output, summary.tensors, summary.mergedTensors, Double(summary.bytes) / 1e6,
                                    summary.seconds, Double(summary.bytes) / 1e6 / max(summary.seconds, 1e-9)))
        if json { try printJSON(summary) }
    }
}
