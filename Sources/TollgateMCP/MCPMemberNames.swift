import TollgateCore

/// Member names that spell a JSON-RPC or MCP member another way: `Name`, `PARAMS`, `ſession` or `name` with a trailing
/// NUL. The gateway reads members exactly as the specification spells them; a server written in Go reads them without
/// regard to case (its `encoding/json`, with Unicode's simple folding: `ſ` is `s`, the Kelvin sign `K` is `k`), and
/// some versions of the Go SDK ignored a trailing NUL. A call whose `name` is spelt `Name` is a call of no tool to the
/// gateway, so it would be passed on unpriced, and of the priced tool to such a server. Messages carrying such a member
/// are refused, never passed on.
public enum MCPMemberNames {
    /// The members of a JSON-RPC message.
    static let message = ["jsonrpc", "id", "method", "params", "result", "error"]
    /// The members of a request's `params` the gateway reads or a server acts on.
    static let params = ["name", "arguments", "_meta", "task", "uri", "cursor", "inputResponses", "requestState", "protocolVersion"]

    private static let foldedMessage = Dictionary(uniqueKeysWithValues: message.map { (fold($0), $0) })
    private static let foldedParams = Dictionary(uniqueKeysWithValues: params.map { (fold($0), $0) })
    /// The names as spelt (ASCII: no other spelling compares equal to one): the common case costs no fold.
    private static let spelt = Set(message + params)

    /// The first member of `tree` (one message, or a batch of them) that spells a protocol member another way; nil when
    /// every member is spelt as the specification spells it or is no protocol member at all.
    public static func lookalike(in tree: JSONValue) -> String? {
        if case .array(let items) = tree { return items.lazy.compactMap(lookalike(inMessage:)).first }
        return lookalike(inMessage: tree)
    }

    private static func lookalike(inMessage value: JSONValue) -> String? {
        guard case .object(let members) = value else { return nil }
        if let key = members.keys.first(where: { isLookalike($0, among: foldedMessage) }) { return key }
        guard case .object(let params)? = members["params"] else { return nil }
        return params.keys.first { isLookalike($0, among: foldedParams) }.map { "params.\($0)" }
    }

    private static func isLookalike(_ key: String, among names: [String: String]) -> Bool {
        guard !spelt.contains(key), let name = names[fold(key)] else { return false }
        return !key.utf8.elementsEqual(name.utf8)
    }

    /// ASCII letters lowercased, `ſ` as `s` and `K` (U+212A) as `k`, control characters left out: how a lenient
    /// server may read a member name.
    static func fold(_ key: String) -> String {
        var folded = ""
        folded.unicodeScalars.reserveCapacity(key.unicodeScalars.count)
        for scalar in key.unicodeScalars {
            switch scalar.value {
            case 0x00..<0x20, 0x7F: continue
            case 0x41...0x5A: folded.unicodeScalars.append(Unicode.Scalar(scalar.value + 0x20)!)
            case 0x17F: folded.unicodeScalars.append("s")
            case 0x212A: folded.unicodeScalars.append("k")
            default: folded.unicodeScalars.append(scalar)
            }
        }
        return folded
    }
}
