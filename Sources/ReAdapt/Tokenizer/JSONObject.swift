import Foundation

/// Typed access to a parsed JSON object that turns shape mistakes into `TokenizerError`s naming
/// the file and the dotted field path.
struct JSONObject {
    let dict: [String: Any]
    let path: String      // file the object came from, for error messages
    let field: String     // dotted location of this object inside the file

    init(_ dict: [String: Any], path: String, field: String) {
        self.dict = dict
        self.path = path
        self.field = field
    }

    func name(_ key: String) -> String { field.isEmpty ? key : "\(field).\(key)" }

    func isNull(_ key: String) -> Bool { dict[key] == nil || dict[key] is JSONReader.Null }

    func string(_ key: String) throws -> String {
        guard let value = dict[key] else { throw TokenizerError.missingField(path: path, field: name(key)) }
        guard let s = value as? String else {
            throw TokenizerError.invalidField(path: path, field: name(key), reason: "expected a string")
        }
        return s
    }

    func optionalString(_ key: String) throws -> String? {
        if isNull(key) { return nil }
        return try string(key)
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        if isNull(key) { return fallback }
        guard let b = dict[key] as? Bool else {
            throw TokenizerError.invalidField(path: path, field: name(key), reason: "expected true or false")
        }
        return b
    }

    func int(_ key: String) throws -> Int {
        guard let value = dict[key], !(value is JSONReader.Null) else {
            throw TokenizerError.missingField(path: path, field: name(key))
        }
        guard let n = JSONObject.integer(value) else {
            throw TokenizerError.invalidField(path: path, field: name(key), reason: "expected an integer")
        }
        return n
    }

    func int(_ key: String, default fallback: Int) throws -> Int {
        if isNull(key) { return fallback }
        return try int(key)
    }

    func object(_ key: String) throws -> JSONObject {
        guard let value = dict[key], !(value is JSONReader.Null) else {
            throw TokenizerError.missingField(path: path, field: name(key))
        }
        guard let d = value as? [String: Any] else {
            throw TokenizerError.invalidField(path: path, field: name(key), reason: "expected an object")
        }
        return JSONObject(d, path: path, field: name(key))
    }

    func optionalObject(_ key: String) throws -> JSONObject? {
        if isNull(key) { return nil }
        return try object(key)
    }

    func array(_ key: String) throws -> [Any] {
        guard let value = dict[key], !(value is JSONReader.Null) else {
            throw TokenizerError.missingField(path: path, field: name(key))
        }
        guard let a = value as? [Any] else {
            throw TokenizerError.invalidField(path: path, field: name(key), reason: "expected a list")
        }
        return a
    }

    /// The objects of a list field, each wrapped for further typed access.
    func objects(_ key: String) throws -> [JSONObject] {
        try array(key).enumerated().map { index, element in
            guard let d = element as? [String: Any] else {
                throw TokenizerError.invalidField(path: path, field: "\(name(key))[\(index)]",
                                                  reason: "expected an object")
            }
            return JSONObject(d, path: path, field: "\(name(key))[\(index)]")
        }
    }

    /// JSONSerialization yields NSNumber for numbers; accept only exact integers (not booleans).
    static func integer(_ value: Any) -> Int? {
        if let n = value as? Int, !(value is Bool) { return n }
        if let d = value as? Double, d.rounded() == d, abs(d) < 1e15 { return Int(d) }
        return nil
    }

    func invalid(_ key: String, _ reason: String) -> TokenizerError {
        TokenizerError.invalidField(path: path, field: name(key), reason: reason)
    }
}
