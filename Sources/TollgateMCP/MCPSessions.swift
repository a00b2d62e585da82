import HTTPTypes
import TollgateCore

/// The MCP door's sessions, bound to their callers: a session id an HTTP server issues reaches its caller tagged for
/// that caller alone (`SessionBinder`), and comes back from it untagged to the server.
///
/// The server's `Mcp-Session-Id` once passed through unchanged both ways, and the gateway, which authenticates callers
/// on the server's behalf, never asked whose it was: a caller who learnt another's id could end that session
/// (`DELETE`), read the server's messages meant for the other on its event stream (`GET`), or call tools in it. A
/// request whose id is not bound to its caller (another caller's, one without a tag, one with a character changed) is
/// answered 404, as MCP answers an unknown session, and never reaches the server. A server over stdio has no sessions:
/// nothing here applies to it.
public struct MCPSessions: Sendable {
    let binder: SessionBinder

    public init(_ binder: SessionBinder) { self.binder = binder }

    /// `fields` as the server is to see them: the caller's session id, if any, without its tag. nil when the caller
    /// presented a session id that was not bound to it.
    public func forServer(_ fields: HTTPFields, caller: String) -> HTTPFields? {
        guard let presented = fields[.mcpSessionId] else { return fields }
        guard let session = binder.unbound(presented, for: caller) else { return nil }
        var forwarded = fields
        forwarded[.mcpSessionId] = session
        return forwarded
    }

    /// `fields` as the caller is to see them: the server's session id, if any, bound to `caller`.
    public func forCaller(_ fields: HTTPFields, caller: String) -> HTTPFields {
        guard let session = fields[.mcpSessionId] else { return fields }
        var answered = fields
        answered[.mcpSessionId] = binder.bound(session, to: caller)
        return answered
    }

    /// The server's session id as `caller` receives it.
    public func forCaller(session: String, caller: String) -> String { binder.bound(session, to: caller) }

    /// The answer to a request whose session id is not bound to its caller (HTTP 404): the message's `id` where it has one.
    public static func unknownSession(id: JSONValue?) -> JSONRPCMessage {
        .error(id: id, code: JSONRPCCode.invalidRequest,
               message: "this Mcp-Session-Id was not issued to this caller by this gateway; start a new session (initialize)",
               data: .object(["status": .integer(404), "reason": .string(unknownSessionReason)]))
    }

    /// The refusal's `error.data.reason`. One reason for every way an id can fail: which one would tell a caller holding
    /// another's id that it is a live one.
    public static let unknownSessionReason = "unknown_session"
}
