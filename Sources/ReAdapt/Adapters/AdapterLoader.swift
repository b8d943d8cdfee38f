import Foundation

/// A bad `PATH[:SCALE]` argument.
public struct AdapterSpecError: Error, CustomStringConvertible, Equatable, Sendable {
    public let argument: String
    public let reason: String
    public var description: String { "--adapter \"\(argument)\" is invalid: \(reason)." }
}

/// One `--adapter PATH[:SCALE]` argument. The scale is what follows the LAST colon when that is a
/// decimal number (so paths may contain colons: `a:b` is the path "a:b", `a:b:0.5` is "a:b" at
/// 0.5); without one the scale is 1. `nan` and `inf` are numbers but not valid scales.
public struct AdapterSpec: Sendable, Equatable {
    public var path: String
    public var scale: Double

    public init(path: String, scale: Double = 1) {
        self.path = path
        self.scale = scale
    }

    public init(parsing argument: String) throws {
        func fail(_ reason: String) -> AdapterSpecError { AdapterSpecError(argument: argument, reason: reason) }
        var path = argument, scale = 1.0
        if let colon = argument.lastIndex(of: ":") {
            let tail = argument[argument.index(after: colon)...]
            if tail.range(of: "^[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?$", options: .regularExpression) != nil,
               let value = Double(tail) {
                guard value.isFinite else { throw fail("the scale \(tail) is not finite") }
                path = String(argument[..<colon])
                scale = value
            } else if ["nan", "inf", "infinity"].contains(tail.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "+-"))) {
                throw fail("the scale \(tail) is not a finite number")
            }
        }
        guard !path.isEmpty else { throw fail("the path is empty") }
        self.path = path
        self.scale = scale
    }
}

/// Opens an adapter path as the right `WeightAdapter`:
/// - a directory with `readapt_delta.json`: a delta checkpoint or LoRE adapter from `extract`;
/// - a directory with `adapter_config.json`: a PEFT LoRA/DoRA adapter (other PEFT types are
///   refused by name; `adapter_model.bin` pickles are refused);
/// - anything else is refused with a sentence saying what it is.
public enum AdapterLoader {
    public static func load(_ url: URL) throws -> WeightAdapter {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw AdapterError.notFound(path: url.path)
        }
        guard isDirectory.boolValue else {
            let parent = url.deletingLastPathComponent()
            let known = [DeltaMetadata.fileName, "adapter_config.json"]
            if known.contains(where: { FileManager.default.fileExists(atPath: parent.appendingPathComponent($0).path) }) {
                throw AdapterError.notADirectory(path: url.path)
            }
            throw AdapterError.notAnAdapter(path: url.path)
        }
        let exists = { (name: String) in FileManager.default.fileExists(atPath: url.appendingPathComponent(name).path) }
        if exists(DeltaMetadata.fileName) { return try DeltaCheckpointAdapter(directory: url) }
        if exists("adapter_config.json") { return try PEFTAdapter(directory: url) }
        if exists("config.json") { throw AdapterError.fullModel(path: url.path) }
        throw AdapterError.notAnAdapter(path: url.path)
    }

    /// A short name of the adapter's kind, for summaries: "dense delta", "LoRE", "LoRA", "DoRA".
    public static func kind(of adapter: WeightAdapter) -> String {
        if let delta = adapter as? DeltaCheckpointAdapter { return delta.metadata.kind == .dense ? "dense delta" : "LoRE" }
        if let peft = adapter as? PEFTAdapter { return peft.config.useDoRA ? "DoRA" : "LoRA" }
        return String(describing: type(of: adapter))
    }
}
