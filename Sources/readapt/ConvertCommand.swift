import ArgumentParser
import Foundation
import ReAdapt

/// `readapt convert`: a llama .gguf file → a Hugging Face model directory.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Write a llama-architecture .gguf file as a Hugging Face model directory.",
        discussion: """
        Writes config.json, model.safetensors (dequantized weights, one file), tokenizer.json, \
        tokenizer_config.json (with the chat template) and generation_config.json, streaming one \
        tensor at a time into a temporary sibling directory renamed to --output when complete.
        """
    )

    @Option(name: .long, help: "The .gguf file to convert.")
    var gguf: String

    @Option(name: .long, help: "The model directory to write (must not exist or be empty, unless --force).")
    var output: String

    @Option(name: .long, help: "Stored weight dtype: f32, f16 or bf16.")
    var dtype: String = "bf16"

    @Flag(name: .long, help: "Replace an existing --output.")
    var force = false

    func run() throws {
        let dtypes: [String: DType] = ["f32": .f32, "f16": .f16, "bf16": .bf16]
        guard let storedType = dtypes[dtype.lowercased()] else { throw GGUFConvertError.unsupportedDType(dtype) }
        guard FileManager.default.fileExists(atPath: gguf) else { throw CommandLineError("\(gguf) does not exist.") }
        let start = ContinuousClock.now
        try GGUFConverter.convert(gguf: URL(fileURLWithPath: gguf), output: URL(fileURLWithPath: output),
                                  dtype: storedType, replace: force) { i, n, name in
            printToStandardError("tensor \(i)/\(n) \(name)")
        }
        printToStandardError(String(format: "Wrote %@ (%@) in %.2f s.", output, dtype.lowercased(), secondsSince(start)))
    }
}
