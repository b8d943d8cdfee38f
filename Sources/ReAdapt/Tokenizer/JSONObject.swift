import Foundation

/// Typed access to a parsed JSON object that turns shape mistakes into `TokenizerError`s naming
/// the file and the dotted field path.
struct JSONObject {
    /// The object's members in file order; a repeated key resolves to its last occurrence.
    let members: [(key: String, value: JSONValue)]
    let path: String      // file the object came from, for error messages
    let field: String     // dotted location of this object inside the file

    init(_ members: [(key: String, value: JSONValue)], path: String, field: String) {
        self.members = members
        self.path = path
        self.field = field
    }

    /// The member `key`, or nil when absent. Tokenizer objects are small, so a linear search
    /// (from the end, so the last repeat wins as in Python's json) beats building a dictionary.
    subscript(key: String) -> JSONValue? {
        members.last(where: { $0.key == key })?.value
    }

    func name(_ key: String) -> String { field.isEmpty ? key : "\(field).\(key)" }

    func isNull(_ key: String) -> Bool { self[key]?.isNull ?? true }

    /// The value of `key` unless it is absent or null.
    private func present(_ key: String) throws -> JSONValue {
        guard let value = self[key], !value.isNull else { throw TokenizerError.missingField(path: path, field: name(key)) }
        return value
    }

    func string(_ key: String) throws -> String {
        guard let value = self[key] else { throw TokenizerError.missingField(path: path, field: name(key)) }
        guard let s = value.string else { throw invalid(key, "expected a string") }
        return s
    }

    func optionalString(_ key: String) throws -> String? {
        if isNull(key) { return nil }
        return try string(key)
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        if isNull(key) { return fallback }
        guard let b = self[key]?.bool else { throw invalid(key, "expected true or false") }
        return b
    }

    func int(_ key: String) throws -> Int {
        guard let n = try present(key).int else { throw invalid(key, "expected an integer") }
        return n
    }

    func int(_ key: String, default fallback: Int) throws -> Int {
        if isNull(key) { return fallback }
        return try int(key)
    }

    func object(_ key: String) throws -> JSONObject {
        guard let members = try present(key).members else { throw invalid(key, "expected an object") }
        return JSONObject(members, path: path, field: name(key))
    }

    func optionalObject(_ key: String) throws -> JSONObject? {
        if isNull(key) { return nil }
        return try object(key)
    }

    func array(_ key: String) throws -> [JSONValue] {
        guard let a = try present(key).array else { throw invalid(key, "expected a list") }
        return a
    }

    /// The objects of a list field, each wrapped for further typed access.
    func objects(_ key: String) throws -> [JSONObject] {
        try array(key).enumerated().map { index, element in
            guard let members = element.members else {
                throw TokenizerError.invalidField(path: path, field: "\(name(key))[\(index)]", reason: "expected an object")
            }
            return JSONObject(members, path: path, field: "\(name(key))[\(index)]")
        }
    }

    func invalid(_ key: String, _ reason: String) -> TokenizerError {
        TokenizerError.invalidField(path: path, field: name(key), reason: reason)
    }
}
