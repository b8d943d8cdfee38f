/// Adds special tokens around one encoded sequence (the single-sequence template).
protocol PostProcessor {
    func process(_ ids: [Int]) -> [Int]
}

struct IdentityPostProcessor: PostProcessor {
    func process(_ ids: [Int]) -> [Int] { ids }
}

struct SequencePostProcessor: PostProcessor {
    let steps: [PostProcessor]
    func process(_ ids: [Int]) -> [Int] { steps.reduce(ids) { $1.process($0) } }
}

/// TemplateProcessing's `single` template, e.g. "<s> $A" → [bos] + ids.
struct TemplatePostProcessor: PostProcessor {
    enum Item { case sequence, special([Int]) }
    let items: [Item]

    func process(_ ids: [Int]) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(ids.count + items.count)
        for item in items {
            switch item {
            case .sequence: out.append(contentsOf: ids)
            case .special(let s): out.append(contentsOf: s)
            }
        }
        return out
    }
}

func makePostProcessor(_ json: JSONObject) throws -> PostProcessor {
    let type = try json.string("type")
    switch type {
    case "ByteLevel":
        return IdentityPostProcessor()
    case "Sequence":
        return SequencePostProcessor(steps: try json.objects("processors").map(makePostProcessor))
    case "TemplateProcessing":
        var specials: [String: [Int]] = [:]
        if let table = json["special_tokens"]?.members {
            for (name, value) in table {
                guard let raw = value["ids"]?.array else {
                    throw json.invalid("special_tokens", "entry \(name) lacks a list of ids")
                }
                let ids = raw.compactMap(\.int)
                guard ids.count == raw.count else { throw json.invalid("special_tokens", "entry \(name) has non-integer ids") }
                specials[name] = ids
            }
        }
        var items: [TemplatePostProcessor.Item] = []
        for (index, element) in try json.array("single").enumerated() {
            guard case .object = element else { throw json.invalid("single", "item \(index) is not an object") }
            let item = element
            if item["Sequence"] != nil {
                items.append(.sequence)
            } else if let name = item["SpecialToken"]?["id"]?.string {
                guard let ids = specials[name] else {
                    throw json.invalid("single", "special token \(name) is not listed in special_tokens")
                }
                items.append(.special(ids))
            } else {
                throw json.invalid("single", "item \(index) is neither a Sequence nor a SpecialToken")
            }
        }
        return TemplatePostProcessor(items: items)
    case "RobertaProcessing", "BertProcessing":
        func idOf(_ key: String) throws -> Int {
            guard let pair = json[key]?.array, pair.count == 2, let id = pair[1].int else {
                throw json.invalid(key, "expected [token, id]")
            }
            return id
        }
        return TemplatePostProcessor(items: [.special([try idOf("cls")]), .sequence, .special([try idOf("sep")])])
    default:
        throw TokenizerError.unsupportedComponent(path: json.path, kind: "post-processor", type: type)
    }
}
