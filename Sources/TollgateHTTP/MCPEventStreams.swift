import AsyncHTTPClient
import NIOCore
import TollgateConfiguration
import TollgateMCP

/// The event streams (`GET` of the MCP endpoint) open through the gateway to an HTTP MCP server, and their bound.
///
/// A stream lasts as long as the server keeps it open, and over HTTP/1.1 it holds a connection all that time. Streams
/// therefore go through a client of their own (`HTTPClient.mcpEventStreams`), never through the one tool calls use:
/// that client opens a bounded number of connections to a server (64), and as many open streams would hold every paid
/// call until one of them ended. At most `limit` streams are open at once; past it a caller is answered 503, so a flood
/// of `GET`s holds a bounded number of connections and never the tool calls'.
///
/// A stream's place is held by its answer's body (`MCPPassedBody`) until it is done with: the server ends the stream,
/// the answer is dropped unread, or writing an event to a caller that went away fails. A caller that goes away is
/// noticed at the next event only (Hummingbird does not cancel the handler), so a server that stays silent holds the
/// place until AsyncHTTPClient's read timeout (90 s) ends the read.
///
/// One caller (`Gateway.callerKey`) holds at most `perCaller` streams, so one caller cannot keep every other caller's
/// stream out (`too_many_event_streams_for_caller`).
public final class MCPEventStreams: Sendable {
    /// The client streams go through.
    public let client: HTTPClient
    /// How many may be open at once (`mcp.upstream.max_event_streams`).
    public var limit: Int { places.limit }
    private let places: MCPPlaces

    /// How many one caller may hold open at once (`mcp.upstream.max_event_streams_per_caller`).
    public var perCaller: Int { places.perCaller }

    /// - Parameter perCaller: nil is `MCPConfiguration.defaultShare(of: limit)`.
    public init(client: HTTPClient = .mcpEventStreams, limit: Int, perCaller: Int? = nil) {
        self.client = client
        self.places = MCPPlaces(limit: limit, perCaller: perCaller ?? MCPConfiguration.defaultShare(of: limit))
    }

    /// The streams open now.
    public var open: Int { places.taken }

    /// The callers holding streams now.
    public var callers: Int { places.callers }

    /// A place for one of `caller`'s streams, given back when the place is released.
    func take(for caller: String) throws(MCPPlaces.Refusal) -> MCPPlaces.Place { try places.take(for: caller) }
}
