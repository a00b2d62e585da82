import HTTPTypes
import TollgateCore

/// The gateway as the MCP server its callers see when the real one runs over stdio: the stdio server has one
/// client (the gateway, which ran its handshake), so the callers' own handshakes are answered here from the
/// server's `initialize` result, their notifications are passed on, and their requests are forwarded with the
/// gateway's numbering (`MCPStdioUpstream`).
public struct MCPStdioEndpoint: Sendable {
    public let upstream: MCPStdioUpstream

    public init(upstream: MCPStdioUpstream) {
        self.upstream = upstream
    }

    /// The answer to one message; nil for a notification (HTTP 202, no body).
    public func handle(_ message: JSONRPCMessage) async -> JSONRPCMessage? {
        if message.isNotification {
            // The callers' `initialized` belongs to their handshake with the gateway, not to the server's. A caller's
            // `notifications/cancelled` names a request by the caller's id, but the server knows its requests by the
            // gateway's numbering: passed on, it would cancel another caller's call (a paid one, its tool maybe run).
            if !Self.callersOwn.contains(message.method ?? "") { try? await upstream.notify(message) }
            return nil
        }
        guard message.isRequest else {
            return .error(id: message.id, code: JSONRPCCode.invalidRequest, message: "expected a request or a notification")
        }
        do {
            let server = try await upstream.ensureStarted()
            switch message.method {
            case "initialize":
                return .result(id: message.id ?? .null, Self.initializeAnswer(server, requested: message.params?["protocolVersion"]?.string))
            case "ping":
                return .result(id: message.id ?? .null, .object([:]))
            case "server/discover":
                // The per-request era needs a server that speaks it; callers fall back to the handshake on this error.
                return .error(id: message.id, code: JSONRPCCode.methodNotFound, message: "server/discover is not served in front of a stdio server; use initialize")
            default:
                return try await upstream.call(message, callerFields: [:], contract: [:]).message
            }
        } catch {
            return .error(id: message.id, code: JSONRPCCode.unavailable, message: "the MCP server is unavailable: \(error)")
        }
    }

    /// Notifications that are not passed on to the server.
    static let callersOwn: Set<String> = ["notifications/initialized", "notifications/cancelled"]

    /// The server's own `initialize` result for a caller's handshake: the server's capabilities and information,
    /// at the version the gateway speaks with it.
    static func initializeAnswer(_ server: JSONValue, requested: String?) -> JSONValue {
        guard case .object(var members) = server else { return server }
        // The caller's version when it is one of the handshake era's (the gateway translates nothing between them).
        if let requested, MCPEra.handshakeVersions.contains(requested) { members["protocolVersion"] = .string(requested) }
        return .object(members)
    }
}
