/// Removes named fields, at any depth, from a JSON document: the post-payment permission that keeps
/// private fields from clients without the scope to see them.
public enum JSONFieldFilter {
    /// Deeper documents are refused (the caller fails closed); well beyond any API's answers, and it bounds the stack.
    public static let maxDepth = 256

    /// The filtered document and how many fields were removed; nil when the body is not JSON (the
    /// caller then fails closed rather than deliver unfiltered data).
    ///
    /// The members are cut out of the text as it was (one scan, no parse into objects and no re-encoding), so the
    /// rest of the document reaches the client byte for byte: same key order, numbers and escapes as the upstream's.
    /// Keys are compared decoded, so `"trader\u005fid"` is removed like `"trader_id"`.
    public static func strip(_ body: [UInt8], fields: Set<String>) -> (body: [UInt8], removed: Int)? {
        // An empty body (204, HEAD, an empty error) holds no field.
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return (body, 0) }
        var scanner = StrictJSON.Scanner(bytes: body, rejectsDuplicates: false, maxDepth: maxDepth,
                                         removing: Set(fields.map { Array($0.utf8) }))
        do { try scanner.document() } catch { return nil }
        guard !scanner.cuts.isEmpty else { return (body, 0) }
        var filtered: [UInt8] = []
        filtered.reserveCapacity(body.count)
        var from = 0
        var removed = 0
        for cut in scanner.cuts.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) {
            filtered.append(contentsOf: body[from..<cut.range.lowerBound])
            from = cut.range.upperBound
            removed += cut.members
        }
        filtered.append(contentsOf: body[from...])
        return (filtered, removed)
    }
}
