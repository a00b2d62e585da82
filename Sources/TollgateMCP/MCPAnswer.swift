import HTTPTypes
import TollgateCore

/// An upstream MCP server's answer to one request: the JSON-RPC response and the HTTP fields that matter to the
/// caller (`Mcp-Session-Id`), empty for a server over stdio.
public struct MCPAnswer: Sendable {
    public var message: JSONRPCMessage
    public var headerFields: HTTPFields

    public init(message: JSONRPCMessage, headerFields: HTTPFields = [:]) {
        self.message = message
        self.headerFields = headerFields
    }
}

/// An upstream MCP server, as the gateway calls it for the requests it decides on (`tools/call`, `tools/list`).
public protocol MCPUpstream: Sendable {
    /// Sends one request and returns its response. `callerFields` are the caller's MCP headers (session,
    /// protocol version), `contract` the gateway's decision for a paid call. Throws `TollgateError` with
    /// `.upstreamUnavailable` when no answer came (refused connection, timeout, a server that stopped).
    func call(_ request: JSONRPCMessage, callerFields: HTTPFields, contract: HTTPFields) async throws -> MCPAnswer
}

extension HTTPField.Name {
    /// The streamable-HTTP transport's fields, named once for the door, the upstream client and the bench.
    public static let mcpSessionId = HTTPField.Name("Mcp-Session-Id")!
    public static let mcpProtocolVersion = HTTPField.Name("Mcp-Protocol-Version")!
    public static let mcpMethod = HTTPField.Name("Mcp-Method")!
    public static let mcpName = HTTPField.Name("Mcp-Name")!
}
