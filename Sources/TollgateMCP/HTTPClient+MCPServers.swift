import AsyncHTTPClient

extension HTTPClient {
    /// The process-wide client for MCP servers over streamable HTTP behind the gateway's MCP door
    /// (`Configuration.mcpServers`).
    public static let mcpServers = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .mcpServers)
}

extension HTTPClient.Configuration {
    /// How the MCP door reaches MCP servers over HTTP:
    /// - redirects are never followed: a call carries the gateway's contract fields and the caller's session, and must
    ///   not reach another host (the HTTP door's upstream does not follow them either);
    /// - no tracing spans: the gateway bootstraps no tracer, and the default no-op tracer still built every call's span;
    /// - a connection that cannot be established fails the call at once. AsyncHTTPClient otherwise tries again until its
    ///   connect timeout (10 s), so a server that was down held every caller that long before its "unavailable" answer.
    ///   Nothing is settled for a call that was not delivered, so the caller's own retry costs it nothing.
    public static var mcpServers: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.tracing.tracer = nil
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }
}
