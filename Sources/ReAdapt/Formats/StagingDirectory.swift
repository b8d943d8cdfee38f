import Foundation

/// Why an output directory could not be written.
public enum OutputDirectoryError: Error, CustomStringConvertible, Equatable, Sendable {
    case exists(path: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .exists(let path):
            return "\(path) already exists and is not an empty directory (pass --force to replace it)."
        case .cannotWrite(let path, let reason):
            return "Cannot write \(path): \(reason)."
        }
    }
}

/// A hidden sibling directory (`.NAME.partial-UUID`) that every output file is written into and
/// that `commit()` renames to the final path. Until then the final path is untouched, and a
/// staging directory that is dropped without `commit()` is deleted, so a failed or interrupted
/// run never leaves an output that looks finished.
public final class StagingDirectory {
    /// The final output path.
    public let output: URL
    /// Where files are written until `commit()`.
    public let url: URL
    private let replace: Bool
    private var committed = false

    /// Refuses an existing `output` that is a file or a non-empty directory unless `replace`.
    public init(output: URL, replace: Bool) throws {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        if fileManager.fileExists(atPath: output.path, isDirectory: &isDirectory), !replace {
            let empty = isDirectory.boolValue && ((try? fileManager.contentsOfDirectory(atPath: output.path))?.isEmpty ?? false)
            guard empty else { throw OutputDirectoryError.exists(path: output.path) }
        }
        self.output = output
        self.replace = replace
        url = output.deletingLastPathComponent()
            .appendingPathComponent(".\(output.lastPathComponent).partial-\(UUID().uuidString)")
        do {
            try fileManager.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw OutputDirectoryError.cannotWrite(path: url.path, reason: Self.reason(error))
        }
    }

    deinit { if !committed { try? FileManager.default.removeItem(at: url) } }

    /// The staging path of a file called `name`.
    public func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    /// Writes `data` to the staging file `name`.
    public func write(_ data: Data, to name: String) throws {
        do { try data.write(to: file(name)) } catch {
            throw OutputDirectoryError.cannotWrite(path: file(name).path, reason: Self.reason(error))
        }
    }

    /// Copies `source` into the staging directory as `name`.
    public func copy(_ source: URL, as name: String? = nil) throws {
        let target = file(name ?? source.lastPathComponent)
        do { try FileManager.default.copyItem(at: source, to: target) } catch {
            throw OutputDirectoryError.cannotWrite(path: target.path, reason: Self.reason(error))
        }
    }

    /// Moves the finished directory to `output` (replacing what is there when allowed).
    public func commit() throws {
        let fileManager = FileManager.default
        do {
            if fileManager.fileExists(atPath: output.path) { try fileManager.removeItem(at: output) }
            try fileManager.moveItem(at: url, to: output)
        } catch {
            throw OutputDirectoryError.cannotWrite(path: output.path, reason: Self.reason(error))
        }
        committed = true
    }

    /// Foundation's reason, cut to one clause so errors stay one sentence.
    static func reason(_ error: Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
           let posix = POSIXErrorCode(rawValue: Int32(underlying.code)), underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(posix.rawValue)).lowercased()
        }
        let text = nsError.localizedDescription
        let firstSentence = text.split(separator: ".", maxSplits: 1).first.map(String.init) ?? text
        return firstSentence.trimmingCharacters(in: .whitespaces)
    }
}
