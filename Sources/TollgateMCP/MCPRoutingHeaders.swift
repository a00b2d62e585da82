import HTTPTypes
import TollgateCore

/// The per-request era's routing fields: `Mcp-Method` mirrors the body's `method` and, for the methods that name
/// something, `Mcp-Name` mirrors that name (`params.name` of `tools/call` and `prompts/get`, `params.uri` of
/// `resources/read`), so that load balancers and proxies can route without reading the body.
///
/// The gateway prices the call the body names and passes the caller's fields on. A request whose fields name another
/// call is refused before anything is forwarded: a server that routed on the field (or a balancer in front of it)
/// would otherwise run a tool the gateway did not price. Conforming servers refuse such a request too (the MCP
/// Python SDK with `-32020`, HTTP 400); the gateway does not rely on it. Absent fields are not required: clients of
/// the handshake era send none.
public enum MCPRoutingHeaders {
    /// The JSON-RPC error code of a request whose routing fields disagree with its body (the MCP SDKs' own).
    public static let mismatchCode = -32020

    /// Method → the `params` member that `Mcp-Name` mirrors.
    public static let nameBearing: [String: String] = ["tools/call": "name", "prompts/get": "name", "resources/read": "uri"]

    /// Why the fields of `message` disagree with its body; nil when they agree or are absent.
    public static func mismatch(of message: JSONRPCMessage, fields: HTTPFields) -> String? {
        guard let method = message.method else { return nil }
        // Compared byte for byte, as the server and a balancer compare (Swift's `==` would take canonically
        // equivalent spellings for equal).
        if let routed = fields[.mcpMethod], !routed.utf8.elementsEqual(method.utf8) {
            return "the Mcp-Method field (\(routed)) does not match the body's method (\(method))"
        }
        guard let key = nameBearing[method], let routed = fields[.mcpName] else { return nil }
        guard let name = decoded(routed), let named = message.params?[key]?.string, name.utf8.elementsEqual(named.utf8) else {
            return "the Mcp-Name field does not match the body's params.\(key)"
        }
        return nil
    }

    /// `value` as a field carries it, as the MCP SDKs write it: as it is when it is visible ASCII without a space at
    /// either end (which HTTP would trim) and does not look encoded itself, else `=?base64?…?=` around the base64 of
    /// its UTF-8.
    public static func encoded(_ value: String) -> String {
        let bytes = Array(value.utf8)
        if bytes.allSatisfy({ (0x20...0x7E).contains($0) }), bytes.first != 0x20, bytes.last != 0x20, !looksEncoded(value) {
            return value
        }
        return "=?base64?" + Base64URL.encodeStandard(bytes) + "?="
    }

    /// A field value as the transport encodes it (`encoded(_:)`), decoded; nil when the encoding is broken (not
    /// canonical base64, not UTF-8), so it never matches by accident. The bytes are kept as they are: a leading byte
    /// order mark stays part of the name.
    static func decoded(_ value: String) -> String? {
        guard looksEncoded(value) else { return value }
        let payload = String(value.dropFirst(9).dropLast(2))
        // Decoded, then written again: only the standard alphabet, padded, with no stray bits is the same text.
        guard let bytes = Base64URL.decodeEitherAlphabet(payload), Base64URL.encodeStandard(bytes) == payload else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func looksEncoded(_ value: String) -> Bool {
        value.hasPrefix("=?base64?") && value.hasSuffix("?=") && value.utf8.count >= 11
    }
}
