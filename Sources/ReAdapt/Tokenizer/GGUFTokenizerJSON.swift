import Foundation

/// Writing the rebuilt tokenizer as the JSON that `tokenizers` 0.23 itself saves (same members,
/// same order), so Python and our `Tokenizer` read identical files.
extension GGUFTokenizerSpec {
    func tokenizerJSON() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(vocab.count * 40 + merges.count * 30 + 4096)
        func raw(_ s: String) { out.append(contentsOf: Array(s.utf8)) }
        func quoted(_ s: String) { JSONValue.appendQuoted(s, to: &out) }

        raw(#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":["#)
        for (i, token) in added.enumerated() {
            if i > 0 { raw(",") }
            raw(#"{"id":\#(token.id),"content":"#)
            quoted(token.content)
            raw(#","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":\#(token.special)}"#)
        }
        raw(#"],"normalizer":null,"pre_tokenizer":"#)
        raw(preTokenizerJSON)
        raw(#","post_processor":"#)
        postProcessorJSON(&out)
        raw(#","decoder":"#)
        raw(byteLevel
            ? #"{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true}"#
            : #"{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},"# +
              #"{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]}"#)
        raw(#","model":{"type":"BPE","dropout":null,"unk_token":null,"#)
        raw(byteLevel
            ? #""continuing_subword_prefix":"","end_of_word_suffix":"","fuse_unk":false,"byte_fallback":false,"#
            : #""continuing_subword_prefix":null,"end_of_word_suffix":null,"fuse_unk":true,"byte_fallback":true,"#)
        raw(#""ignore_merges":false,"vocab":{"#)
        for (i, entry) in vocab.enumerated() {
            if i > 0 { raw(",") }
            quoted(entry.token)
            raw(":\(entry.id)")
        }
        raw(#"},"merges":["#)
        for (i, merge) in merges.enumerated() {
            raw(i > 0 ? ",[" : "[")
            quoted(merge.0)
            raw(",")
            quoted(merge.1)
            raw("]")
        }
        raw("]}}")
        return out
    }

    private var preTokenizerJSON: String {
        guard byteLevel else {
            return #"{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false}"#
        }
        guard let splitRegex else {
            return #"{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}"#
        }
        var pattern: [UInt8] = []
        JSONValue.appendQuoted(splitRegex, to: &pattern)
        return #"{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"# +
            String(decoding: pattern, as: UTF8.self) +
            #"},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]}"#
    }

    /// transformers' TemplateProcessing: `[bos] $A [eos]` and `[bos] $A [eos] [bos] $B:1 [eos]:1`.
    private func postProcessorJSON(_ out: inout [UInt8]) {
        func raw(_ s: String) { out.append(contentsOf: Array(s.utf8)) }
        let bos = addBOS ? meta.bosID.map { (meta.tokens[$0], addedID(meta.tokens[$0])) } : nil
        let eos = addEOS ? meta.eosID.map { (meta.tokens[$0], addedID(meta.tokens[$0])) } : nil
        func special(_ token: (String, Int)?, typeID: Int, _ out: inout [UInt8]) {
            guard let token else { return }
            out.append(contentsOf: Array(#"{"SpecialToken":{"id":"#.utf8))
            JSONValue.appendQuoted(token.0, to: &out)
            out.append(contentsOf: Array(#","type_id":\#(typeID)}},"#.utf8))
        }
        func sequence(_ name: String, typeID: Int) -> String { #"{"Sequence":{"id":"\#(name)","type_id":\#(typeID)}}"# }
        raw(#"{"type":"TemplateProcessing","single":["#)
        special(bos, typeID: 0, &out); raw(sequence("A", typeID: 0))
        if eos != nil { raw(","); special(eos, typeID: 0, &out); out.removeLast() }
        raw(#"],"pair":["#)
        special(bos, typeID: 0, &out); raw(sequence("A", typeID: 0))
        if eos != nil { raw(","); special(eos, typeID: 0, &out); out.removeLast() }
        raw(","); special(bos, typeID: 1, &out); raw(sequence("B", typeID: 1))
        if eos != nil { raw(","); special(eos, typeID: 1, &out); out.removeLast() }
        raw(#"],"special_tokens":{"#)
        var seen = Set<String>()
        for token in [bos, eos].compactMap({ $0 }) where seen.insert(token.0).inserted {
            if seen.count > 1 { raw(",") }
            JSONValue.appendQuoted(token.0, to: &out)
            raw(":{\"id\":")
            JSONValue.appendQuoted(token.0, to: &out)
            raw(",\"ids\":[\(token.1)],\"tokens\":[")
            JSONValue.appendQuoted(token.0, to: &out)
            raw("]}")
        }
        raw("}}")
    }

    private func addedID(_ content: String) -> Int {
        added.first(where: { $0.content == content })?.id ?? vocab.first(where: { $0.token == content })?.id ?? 0
    }

    func tokenizerConfigJSON() -> [UInt8] {
        var out: [UInt8] = []
        func raw(_ s: String) { out.append(contentsOf: Array(s.utf8)) }
        raw("{\n  \"add_bos_token\": \(addBOS),\n  \"add_eos_token\": \(addEOS)")
        for (key, id) in [("bos_token", meta.bosID), ("eos_token", meta.eosID), ("pad_token", meta.padID), ("unk_token", meta.unkID)] {
            raw(",\n  \"\(key)\": ")
            if let id { JSONValue.appendQuoted(meta.tokens[id], to: &out) } else { raw("null") }
        }
        if let template = meta.chatTemplate {
            raw(",\n  \"chat_template\": ")
            JSONValue.appendQuoted(template, to: &out)
        }
        raw(",\n  \"tokenizer_class\": \"PreTrainedTokenizerFast\"\n}\n")
        return out
    }
}
