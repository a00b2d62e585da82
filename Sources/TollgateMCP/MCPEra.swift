import HTTPTypes
import TollgateCore

/// The two ways MCP clients speak over streamable HTTP: the `initialize` handshake era (versions up to
/// 2025-11-25, sessions) and the per-request era (2026-07-28: `server/discover`, every request stamped with
/// `_meta["io.modelcontextprotocol/protocolVersion"]`, results marked `resultType: "complete"`).
public enum MCPEra: Sendable, Hashable {
    case handshake
    case perRequest

    public static let handshakeVersions: Set<String> = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
    public static let perRequestVersion = "2026-07-28"
    public static let protocolVersionKey = "io.modelcontextprotocol/protocolVersion"

    /// The era of one request: its `Mcp-Protocol-Version` field, else its `_meta` stamp; neither is the handshake era.
    public static func of(_ message: JSONRPCMessage, fields: HTTPFields = [:]) -> MCPEra {
        let version = fields[.mcpProtocolVersion] ?? message.params?["_meta"]?[protocolVersionKey]?.string
        guard let version else { return .handshake }
        return handshakeVersions.contains(version) ? .handshake : .perRequest
    }

    /// A result as this era wants it: the per-request era marks every result complete.
    public func finished(_ result: JSONValue) -> JSONValue {
        guard self == .perRequest, case .object(var members) = result, members["resultType"] == nil else { return result }
        members["resultType"] = .string("complete")
        return .object(members)
    }
}
