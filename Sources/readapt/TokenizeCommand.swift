import ArgumentParser
import Foundation
import ReAdapt

/// `readapt tokenize`: text → ids (or ids → text with --decode) with a model's tokenizer.json.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode text to token ids, or decode ids to text, with a model's tokenizer.json."
    )

    @Option(name: .long, help: "Model directory containing tokenizer.json (and optionally tokenizer_config.json), or a .gguf file.")
    var model: String

    @Option(name: .long, help: "Text to encode (with --decode: ids separated by spaces/commas, or a JSON list).")
    var text: String?

    @Option(name: .long, help: "File whose contents are encoded (or, with --decode, hold the ids).")
    var file: String?

    @Flag(name: .long, help: "Print {\"ids\": [...]} instead of space-separated ids.")
    var json = false

    @Flag(name: .long, help: "Decode ids to text instead of encoding.")
    var decode = false

    @Flag(name: .long, help: "Do not add the post-processor's special tokens (or, with --decode, skip special tokens).")
    var noSpecialTokens = false

    @Option(name: .long, help: "Time loading and encoding (best of N runs) and print the timings to stderr.")
    var benchmark: Int?

    func validate() throws {
        if (text == nil) == (file == nil) {
            throw ValidationError("Give exactly one of --text or --file.")
        }
    }

    func run() throws {
        let loadStart = Date()
        let url = URL(fileURLWithPath: model)
        // A .gguf file carries its tokenizer in its metadata; a directory needs only tokenizer.json.
        let tokenizer = url.pathExtension.lowercased() == "gguf"
            ? try Tokenizer(gguf: GGUFFile(url: url)) : try Tokenizer(directory: url)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let input = try text ?? readTextFile(file!)
        if decode {
            let ids = try parseIDs(input)
            print(tokenizer.decode(ids, skipSpecialTokens: noSpecialTokens))
        } else {
            let ids = tokenizer.encode(input, addSpecialTokens: !noSpecialTokens)
            if let runs = benchmark, runs > 0 {
                reportTimings(tokenizer, input, runs: runs, loadSeconds: loadSeconds, tokens: ids.count)
            }
            let list = ids.map(String.init)
            print(json ? "{\"ids\": [\(list.joined(separator: ", "))]}" : list.joined(separator: " "))
        }
    }

    /// Best-of-N encode time of the whole input (after one warm-up run, which fills the BPE cache
    /// as a long-running process would have).
    func reportTimings(_ tokenizer: Tokenizer, _ input: String, runs: Int, loadSeconds: Double, tokens: Int) {
        var best = Double.infinity
        for _ in 0..<runs {
            let start = Date()
            _ = tokenizer.encode(input, addSpecialTokens: !noSpecialTokens)
            best = min(best, Date().timeIntervalSince(start))
        }
        let megabytes = Double(input.utf8.count) / 1e6
        let report = String(format: "load %.0f ms; encode %.2f MB, %d tokens: best of %d %.3f s = %.2f MB/s\n",
                            loadSeconds * 1000, megabytes, tokens, runs, best, megabytes / best)
        FileHandle.standardError.write(Data(report.utf8))
    }

    /// Ids as "1 2 3", "1,2,3", "[1, 2, 3]" or {"ids": [...]}.
    func parseIDs(_ input: String) throws -> [Int] {
        var body = input.trimmingCharacters(in: .whitespacesAndNewlines)
        if body.hasPrefix("{"), let data = body.data(using: .utf8),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let ids = object["ids"] as? [Int] {
            return ids
        }
        body = body.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        var ids: [Int] = []
        for part in body.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\n" || $0 == "\t" }) {
            guard let id = Int(part), id >= 0 else {
                throw CommandLineError("The value \"\(part)\" given to --decode is not a token id.")
            }
            ids.append(id)
        }
        return ids
    }
}
