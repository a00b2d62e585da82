import AsyncHTTPClient
import TollgateConfiguration
import TollgateMCP

/// The requests the MCP door passes straight on to an HTTP MCP server (an unpriced `tools/call`, the handshake,
/// notifications, resources, prompts, `DELETE` of a session), and their bounds.
///
/// They once went through the paid calls' client (`HTTPClient.mcpServers`, 64 connections to a server) with a deadline
/// that ended at the response head, uncounted: an anonymous caller opening 64 POSTs to a free tool whose answer is an
/// event stream of keep-alives took every connection, and paid calls waited for one until they failed
/// `upstream_unavailable` (nothing charged, paid tools unavailable to everyone). Now they go through a client of their
/// own (`HTTPClient.mcpPassedRequests`), at most `limit` at once (past it a JSON-RPC error, HTTP 503 with
/// `Retry-After`), and each answer, head and body, ends at `timeoutSeconds` (a streamed answer is cut there).
///
/// One caller (`Gateway.callerKey`) holds at most `perCaller` of them: a caller holding all 64 refused every other
/// caller's handshake until its answers ended. Past its share a caller is refused as past the bound, with its own
/// reason (`too_many_passed_requests_for_caller`), while the others still get through.
public final class MCPPassedRequests: Sendable {
    /// The client passed-through requests go through, apart from the paid calls'.
    public let client: HTTPClient
    /// How many may be open at once (`mcp.upstream.max_passed_requests`).
    public var limit: Int { places.limit }
    /// How many one caller may hold open at once (`mcp.upstream.max_passed_requests_per_caller`).
    public var perCaller: Int { places.perCaller }
    /// How long one may take, its answer's body included (`mcp.upstream.timeout_seconds`).
    public let timeoutSeconds: Double
    private let places: MCPPlaces

    /// - Parameter perCaller: nil is `MCPConfiguration.defaultShare(of: limit)`.
    public init(client: HTTPClient = .mcpPassedRequests, limit: Int, perCaller: Int? = nil, timeoutSeconds: Double) {
        self.client = client
        self.timeoutSeconds = timeoutSeconds
        self.places = MCPPlaces(limit: limit, perCaller: perCaller ?? MCPConfiguration.defaultShare(of: limit))
    }

    /// The passed-through requests open now (their answers not yet done with).
    public var open: Int { places.taken }

    /// The callers holding places now.
    public var callers: Int { places.callers }

    /// A place for one of `caller`'s requests, given back when its answer's body is done with.
    func take(for caller: String) throws(MCPPlaces.Refusal) -> MCPPlaces.Place { try places.take(for: caller) }

    /// A request refused for want of a place is answered 503 with this `Retry-After`, as a stream past its bound is.
    static let retryAfterSeconds = 5
    /// The refusal's `error.data.reason`.
    static let refusalReason = "too_many_passed_requests"
    /// The refusal's `error.data.reason` for a caller holding its share.
    static let callerRefusalReason = "too_many_passed_requests_for_caller"
}
