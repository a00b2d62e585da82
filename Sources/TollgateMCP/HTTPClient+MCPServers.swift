import AsyncHTTPClient
import NIOCore

extension HTTPClient {
    /// The process-wide client for MCP servers over streamable HTTP behind the gateway's MCP door
    /// (`Configuration.mcpServers`).
    public static let mcpServers = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .mcpServers)
}

extension HTTPClient.Configuration {
    /// How the MCP door reaches MCP servers over HTTP: AsyncHTTPClient's shared configuration (redirects followed, as
    /// servers that move `/mcp` to `/mcp/` need; a 90 s read timeout for event streams), with two differences:
    /// - no tracing spans: the gateway bootstraps no tracer, and the default no-op tracer still built every call's span
    ///   (3–6 % of a paid tool call's CPU, BENCHMARKS.md);
    /// - connecting gives up after 5 s instead of 90: AsyncHTTPClient tries again until then (a failed attempt does not
    ///   fail the other calls waiting for a connection), so a server that was down held every caller for the call's
    ///   whole timeout before its "unavailable" answer. Nothing is settled for a call that was not delivered.
    public static var mcpServers: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.tracing.tracer = nil
        configuration.timeout.connect = .seconds(5)
        return configuration
    }
}
