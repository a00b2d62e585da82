import AsyncHTTPClient
import NIOCore

extension HTTPClient {
    /// The process-wide client for MCP servers over streamable HTTP behind the gateway's MCP door
    /// (`Configuration.mcpServers`).
    public static let mcpServers = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .mcpServers)

    /// The process-wide client for the event streams passed through to MCP servers (`Configuration.mcpEventStreams`):
    /// apart from `mcpServers`, so open streams never hold the connections tool calls need.
    public static let mcpEventStreams = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .mcpEventStreams)

    /// The process-wide client for the requests passed straight through to MCP servers (an unpriced `tools/call`, the
    /// handshake, `DELETE`): apart from `mcpServers` too, so free traffic never holds the connections paid calls need.
    /// It has the event streams' configuration: the gateway bounds these requests itself (`mcp.upstream.max_passed_requests`).
    public static let mcpPassedRequests = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .mcpEventStreams)
}

extension HTTPClient.Configuration {
    /// How the MCP door reaches MCP servers over HTTP: AsyncHTTPClient's shared configuration (redirects followed, as
    /// servers that move `/mcp` to `/mcp/` need; a 90 s read timeout for event streams), with three differences:
    /// - up to 64 connections to a server, as the reverse proxy's `upstream.max_connections` by default, instead of 8:
    ///   each call holds one until its answer ends, so a tool that takes a second served eight paid calls a second;
    /// - no tracing spans: the gateway bootstraps no tracer, and the default no-op tracer still built every call's span
    ///   (3–6 % of a paid tool call's CPU, BENCHMARKS.md);
    /// - connecting gives up after 5 s instead of 90: AsyncHTTPClient tries again until then (a failed attempt does not
    ///   fail the other calls waiting for a connection), so a server that was down held every caller for the call's
    ///   whole timeout before its "unavailable" answer. Nothing is settled for a call that was not delivered.
    public static var mcpServers: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.tracing.tracer = nil
        configuration.timeout.connect = .seconds(5)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        return configuration
    }

    /// `mcpServers` with no bound of its own on the connections to one server: each open event stream holds one, and
    /// the gateway bounds the streams itself (`mcp.upstream.max_event_streams`); AsyncHTTPClient's default of eight
    /// would make the ninth stream wait for one of the first eight to end.
    public static var mcpEventStreams: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration.mcpServers
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 100_000
        return configuration
    }
}
