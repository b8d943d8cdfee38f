/// Turns ids generated one at a time into text pieces, emitting text only once its UTF-8 is
/// complete, so that concatenating all pieces equals `decode(allIDs)` in the usual cases.
///
/// It decodes a window of recent ids twice — with and without the newest ones — and emits the
/// difference. Decoding from an earlier id than the new ones keeps context-dependent decoders
/// right (SentencePiece's Strip drops the leading space only at the very start; byte-fallback
/// and byte-level tokens that split a character are held back while the text ends in U+FFFD).
public struct StreamingDetokenizer {
    public let tokenizer: Tokenizer
    public let skipSpecialTokens: Bool
    private var ids: [Int] = []
    private var prefixOffset = 0   // window start
    private var readOffset = 0     // ids before this are already emitted

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one id; returns the newly completed text (possibly empty).
    public mutating func append(_ id: Int) -> String {
        ids.append(id)
        let previous = tokenizer.decodeBytes(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens)
        let current = tokenizer.decodeBytes(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens)
        // Hold back while the newest text ends in an incomplete character.
        if current.count >= 3 && current.suffix(3) == [0xEF, 0xBF, 0xBD] { return "" }
        guard current.count > previous.count || !current.starts(with: previous) else { return "" }
        let fresh: [UInt8]
        if current.starts(with: previous) {
            fresh = Array(current[previous.count...])
        } else {
            // The decoder rewrote earlier text (rare); emit what follows the common prefix length.
            fresh = Array(current.dropFirst(min(previous.count, current.count)))
        }
        prefixOffset = readOffset
        readOffset = ids.count
        return String(decoding: fresh, as: UTF8.self)
    }

    /// Whatever is still held back (e.g. a dangling partial character) at the end of generation.
    public mutating func finish() -> String {
        guard readOffset < ids.count else { return "" }
        let previous = tokenizer.decodeBytes(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens)
        let current = tokenizer.decodeBytes(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens)
        readOffset = ids.count
        prefixOffset = readOffset
        return String(decoding: current.starts(with: previous) ? Array(current[previous.count...]) : current, as: UTF8.self)
    }
}
